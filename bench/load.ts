import autocannon, { type RawRequest } from 'autocannon'
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { Pool } from 'undici'
import { setTimeout as delay } from 'node:timers/promises'
import { answerBody, type Send } from '../kit/operator-client.ts'
import { processSeconds } from './cost.ts'

export interface Throughput {
  rps: number
  p50_ms: number
  p99_ms: number
  requests: number
  non2xx: number
  errors: number
}

/** Runs autocannon against `path(i)` (i counts requests from 0) and summarises the run. */
export async function hammer (
  url: string,
  path: (i: number) => string,
  { connections, duration, amount }: { connections: number; duration?: number; amount?: number }
): Promise<Throughput> {
  let next = 0
  const started = performance.now()
  let lastAnswer = started
  const run = autocannon({
    url,
    connections,
    ...(amount === undefined ? { duration } : { amount }),
    timeout: 10,
    requests: [{ method: 'POST', setupRequest: (req: RawRequest) => ({ ...req, path: path(next++) }) }],
  })
  run.on('response', () => { lastAnswer = performance.now() })
  const result = await run
  // Up to the last answer: autocannon notices a run of `amount` requests is over only at its
  // next one-second tick, and its own duration is in whole seconds.
  const seconds = (lastAnswer - started) / 1000
  return {
    rps: Math.round(result.requests.total / seconds),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  }
}

/** Runs `task(i)` for i in [0, n) with `concurrency` tasks in flight. */
export async function inParallel (n: number, concurrency: number, task: (i: number) => Promise<void>) {
  let next = 0
  const worker = async () => {
    while (next < n) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker))
}

export interface Reply {
  status: number
  body: any
}

export interface Client {
  /** The operator client's transport (creating sales, reading /metrics). */
  send: Send
  post(path: string): Promise<Reply>
  get(path: string): Promise<Reply>
  close(): Promise<void>
}

/** A keep-alive client for the steps that need each answer (reservations, sell-out). */
export function client (url: string, connections: number): Client {
  const pool = new Pool(url, { connections, pipelining: 1 })
  const send: Send = async (method, path, options = {}) => {
    const res = await pool.request({ method, path, headers: options.headers, body: options.body ?? null })
    return { status: res.statusCode, body: answerBody(await res.body.text()) }
  }
  return {
    send,
    post: (path) => send('POST', path),
    get: (path) => send('GET', path),
    close: () => pool.close(),
  }
}

export interface Arrivals {
  sent: number
  /** Answers per status code; 0 counts requests that got no answer (refused, reset, timed out). */
  statuses: Record<number, number>
  /** Latency from each request's scheduled start, so a stalled client or a full queue shows. */
  p50_ms: number
  p99_ms: number
  max_ms: number
}

/**
 * An open-model load: `rate` requests a second for `seconds`, each sent when its time comes,
 * whether or not earlier ones were answered. With `newConnection`, each request opens a TCP
 * connection of its own (no keep-alive), as clients that connect per request do.
 */
export async function arrivals (
  url: string,
  path: (i: number) => string,
  { rate, seconds, newConnection }: { rate: number; seconds: number; newConnection: boolean }
): Promise<Arrivals> {
  const { hostname, port } = new URL(url)
  // Keep-alive requests share an undici pool (node:http's client costs more per request than
  // the service does, which would show as service latency); per-request connections use
  // node:http without an agent, which opens and closes one socket per request.
  const pool = newConnection ? undefined : new Pool(url, { connections: 256, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 })
  const total = Math.round(rate * seconds)
  const latencies = new Float64Array(total)
  const statuses: Record<number, number> = {}
  const start = performance.now()
  const record = (i: number, due: number, status: number) => {
    latencies[i] = performance.now() - due
    statuses[status] = (statuses[status] ?? 0) + 1
  }
  const send = pool
    ? (i: number, due: number) => pool.request({ path: path(i), method: 'POST' }).then(
        async (res) => { await res.body.dump(); record(i, due, res.statusCode) },
        () => record(i, due, 0))
    : (i: number, due: number) => new Promise<void>((resolve) => {
        const req = http.request({ hostname, port, path: path(i), method: 'POST', agent: false, timeout: 10_000 }, (res) => {
          res.resume()
          res.once('end', () => { record(i, due, res.statusCode ?? 0); resolve() })
        })
        req.once('timeout', () => req.destroy(new Error('timeout')))
        req.once('error', () => { record(i, due, 0); resolve() })
        req.end()
      })
  const inFlight: Promise<void>[] = []
  for (let i = 0; i < total;) {
    const now = performance.now()
    // Every request whose time has come goes out now; then sleep until the next one's.
    for (; i < total && start + (i * 1000) / rate <= now; i++) inFlight.push(send(i, start + (i * 1000) / rate))
    if (i < total) await delay(Math.max(0, start + (i * 1000) / rate - performance.now()))
  }
  await Promise.all(inFlight)
  await pool?.close()
  const sorted = Array.from(latencies).sort((a, b) => a - b)
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10
  return { sent: total, statuses, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1) }
}

/** The kernel's count of connections dropped because a listen queue was full (all sockets). */
export function listenOverflows (): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'))
  const names = lines[0]?.split(/\s+/) ?? []
  const values = lines[1]?.split(/\s+/) ?? []
  return Number(values[names.indexOf('ListenOverflows')] ?? NaN)
}

/**
 * The machine's CPU use from now until the returned function is called: busy time over all
 * cores as a share of one core (200% is both cores of a two-core machine busy), from /proc/stat.
 */
export function machineCpu (): () => number {
  const read = () => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
    const idle = fields[3]! + (fields[4] ?? 0)
    return { total: fields.reduce((a, b) => a + b, 0), idle }
  }
  const start = read()
  return () => {
    const end = read()
    const total = end.total - start.total
    return total === 0 ? 0 : Math.round(((total - (end.idle - start.idle)) / total) * cpus().length * 100)
  }
}

/** CPU use of process `pid` (user + system) from now until the returned function is called, in % of one core. */
export function processCpu (pid: number): () => number {
  const start = processSeconds(pid)
  const startedAt = performance.now()
  return () => Math.round(((processSeconds(pid) - start) / ((performance.now() - startedAt) / 1000)) * 100)
}
