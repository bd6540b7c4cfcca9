import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { Agent, request } from 'undici'
import type { Test } from 'tap'
import type postgres from 'postgres'
import { ROOT } from '../../src/paths.ts'
import { saleKeys, type SaleKeys } from '../../src/sale/keys.ts'
import { freePort } from './services.ts'

/** Polls `check` until it returns a truthy value; fails after `timeoutMs`. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await delay(20)
  }
}

export interface RedisNode {
  url: string
  port: number
  /** A client of the test's own (no offline queue: fails at once while the node is down). */
  client: Redis
  /** SIGKILLs the server and waits for it to be gone. */
  kill(): Promise<void>
  /** Starts a fresh, empty server on the same port. */
  start(): Promise<void>
  /** SIGSTOP: the server keeps its connections but answers nothing (a hung Redis). */
  pause(): void
  /** SIGCONT: it answers again, everything sent meanwhile included. */
  resume(): void
}

/** A redis-server of the test's own on a free port, without persistence, gone at teardown. */
export async function startRedis (t: Test): Promise<RedisNode> {
  const port = await freePort()
  let proc: ChildProcess | undefined
  const node: RedisNode = {
    url: `redis://127.0.0.1:${port}`,
    port,
    client: new Redis({
      port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50,
    }),
    async start () {
      proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: 'ignore',
      })
      await waitFor(`redis on ${port}`, async () => {
        if (node.client.status === 'wait' || node.client.status === 'end') await node.client.connect()
        return (await node.client.ping()) === 'PONG'
      })
    },
    pause: () => { proc?.kill('SIGSTOP') },
    resume: () => { proc?.kill('SIGCONT') },
    async kill () {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGCONT')
      const exited = once(proc, 'exit')
      proc.kill('SIGKILL')
      await exited
    },
  }
  node.client.on('error', () => {})
  await node.start()
  t.teardown(async () => {
    node.client.disconnect()
    await node.kill()
  })
  return node
}

/**
 * A TCP proxy the test controls, standing between the service and Postgres: `cut()` drops every
 * connection and refuses new ones, `restore()` lets them through again, and `latencyMs` holds
 * every chunk from the client that long (a slow database).
 */
export interface Proxy {
  port: number
  latencyMs: number
  cut(): Promise<void>
  restore(): Promise<void>
  /** Holds every chunk from clients until release(): a database that stops answering. */
  hold(): void
  release(): void
  /** Holds every answer of the database this long: it has done the work, the client hears later. */
  replyLatencyMs: number
}

export async function startProxy (t: Test, target: { host: string; port: number }): Promise<Proxy> {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let held: (() => void)[] | undefined
  const port = await freePort()
  const proxy: Proxy = {
    port,
    latencyMs: 0,
    replyLatencyMs: 0,
    hold () {
      held ??= []
    },

    release () {
      const pending = held ?? []
      held = undefined
      for (const send of pending) send()
    },
    async restore () {
      if (server) return
      held = undefined
      proxy.replyLatencyMs = 0
      server = createServer((client) => {
        const upstream = connect(target.port, target.host)
        sockets.add(client).add(upstream)
        const drop = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on('error', drop).on('close', drop)
        upstream.on('error', drop).on('close', drop)
        client.on('data', (chunk) => {
          const send = () => { upstream.write(chunk) }
          if (held) held.push(send)
          else if (proxy.latencyMs === 0) send()
          else setTimeout(send, proxy.latencyMs)
        })
        upstream.on('data', (chunk) => {
          if (proxy.replyLatencyMs === 0) client.write(chunk)
          else setTimeout(() => client.write(chunk), proxy.replyLatencyMs)
        })
      })
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
    },
    async cut () {
      const s = server
      server = undefined
      if (!s) return
      const closed = once(s, 'close')
      s.close()
      for (const sock of sockets) sock.destroy()
      sockets.clear()
      await closed
    },
  }
  await proxy.restore()
  t.teardown(() => proxy.cut())
  return proxy
}

/** The Postgres URL of `url`, but through the proxy. */
export function viaProxy (url: string, proxy: Proxy): string {
  const u = new URL(url)
  u.host = `127.0.0.1:${proxy.port}`
  return u.href
}

export function proxyTarget (url: string): { host: string; port: number } {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port || 5432) }
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface Service {
  port: number
  pid: number
  base: string
  /** Output of the process so far (stdout and stderr), for failure messages. */
  output(): string
  /** Sends a signal and resolves once the process is gone. */
  stop(signal: NodeJS.Signals): Promise<Exit>
  signal(signal: NodeJS.Signals): void
  exited: Promise<Exit>
}

export const ADMIN = 'fault-test-admin-token-0123456789'

/**
 * Runs the service as a real process (`fault-server.ts` the server of `npm start`) and
 * waits until it answers HTTP. The environment is the given one on top of PATH and HOME only.
 */
export async function startService (t: Test, env: Record<string, string>): Promise<Service> {
  const port = await freePort()
  const child = spawn(process.execPath, ['test/helpers/fault-server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      LOG_LEVEL: 'warn',
      SALE_SCHEDULE: 'off',
      ADMIN_TOKEN: ADMIN,
      HOST: '127.0.0.1',
      PORT: String(port),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)))
  child.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)))
  let gone = false
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => {
    gone = true
    resolve({ code, signal })
  }))
  const service: Service = {
    port,
    pid: child.pid!,
    base: `http://127.0.0.1:${port}`,
    output: () => out,
    exited,
    signal: (s) => { if (!gone) child.kill(s) },
    async stop (signal) {
      if (!gone) child.kill(signal)
      return exited
    },
  }
  t.teardown(async () => {
    if (!gone) {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
    }
    await exited
  })
  await waitFor(`service on ${port}`, async () => {
    if (gone) return true
    const res = await fetch(`${service.base}/health/live`)
    await res.arrayBuffer()
    return true
  }, 30_000)
  if (gone) throw new Error(`service exited before answering:\n${out}`)
  return service
}

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: any
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
    const text = await res.body.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {}
    return { status: res.statusCode, headers: res.headers, body, ms: performance.now() - start }
  }
}

/** Creates a sale that starts now through the operator API of a running service. */
export async function createSale (call: Call, body: Record<string, unknown>): Promise<number> {
  const res = await call('POST', '/admin/sales', {
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (res.status !== 201) throw new Error(`create sale failed: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body.sale_id
}

/** Counts reservation states of a sale in Redis: R reserved, C committing, S sold, X expired. */
export async function reservationStates (redis: Redis, resKey: string) {
  const all = await redis.hvals(resKey)
  const count = (s: string) => all.filter((v) => v.startsWith(`${s}|`)).length
  return { R: count('R'), C: count('C'), S: count('S'), X: count('X') }
}

/** The Redis keys of a sale under the service's default prefix, with the token Postgres gave it. */
export async function keysOfSale (sql: postgres.Sql, saleId: number, prefix = 'fs'): Promise<SaleKeys> {
  const [row] = await sql<{ token: string }[]>`SELECT token FROM sales WHERE id = ${saleId}`
  if (!row) throw new Error(`no sale ${saleId}`)
  return saleKeys(prefix, saleId, row.token)
}
