import type { Test } from 'tap'
import { Agent, request } from 'undici'
import { answerBody, type Answer } from '../../kit/operator-client.ts'

export interface Reply extends Answer {
  headers: Record<string, string | string[] | undefined>
  body: any
  /** From sending the request to the end of the answer's body. */
  ms: number
}

export type Call = (method: 'GET' | 'POST', path: string, options?: { headers?: Record<string, string>; body?: string }) => Promise<Reply>

/** A small HTTP client over a keep-alive pool of the test's own, closed at teardown. */
export function httpClient (t: Test, base: string, connections = 64): Call {
  const agent = new Agent({ connections, pipelining: 1, headersTimeout: 60_000, bodyTimeout: 60_000 })
  t.teardown(() => agent.destroy())
  return async (method, path, options = {}) => {
    const start = performance.now()
    const res = await request(`${base}${path}`, { method, dispatcher: agent, ...options })
    const body = answerBody(await res.body.text())
    return { status: res.statusCode, headers: res.headers, body, ms: performance.now() - start }
  }
}
