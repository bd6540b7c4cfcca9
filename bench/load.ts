import autocannon, { type RawRequest } from 'autocannon'
import { Pool } from 'undici'

export interface Throughput {
  rps: number
  p50_ms: number
  p99_ms: number
  requests: number
  non2xx: number
  errors: number
}

/** Runs autocannon against `path(i)` (i counts requests from 0) and summarises the run. */
export async function hammer(
  url: string,
  path: (i: number) => string,
  { connections, duration, amount }: { connections: number; duration?: number; amount?: number },
): Promise<Throughput> {
  let next = 0
  const result = await autocannon({
    url,
    connections,
    ...(amount === undefined ? { duration } : { amount }),
    timeout: 10,
    requests: [{ method: 'POST', setupRequest: (req: RawRequest) => ({ ...req, path: path(next++) }) }],
  })
  return {
    rps: Math.round(result.requests.total / result.duration),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  }
}

/** Runs `task(i)` for i in [0, n) with `concurrency` tasks in flight. */
export async function inParallel(n: number, concurrency: number, task: (i: number) => Promise<void>) {
  let next = 0
  const worker = async () => {
    while (next < n) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
}

export interface Client {
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>
  get(path: string): Promise<{ status: number; json: any }>
  close(): Promise<void>
}

/** A keep-alive client for the steps that need each answer (reservations, sell-out). */
export function client(url: string, connections: number): Client {
  const pool = new Pool(url, { connections, pipelining: 1 })
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await pool.request({
      method,
      path,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    })
    return { status: res.statusCode, json: await res.body.json() }
  }
  return {
    post: (path, body, headers) => call('POST', path, body, headers),
    get: (path) => call('GET', path),
    close: () => pool.close(),
  }
}
