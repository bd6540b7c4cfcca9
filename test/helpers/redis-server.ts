import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { eventually } from './eventually.ts'
import { freePort } from './free-port.ts'

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
      const started = proc
      await eventually(`redis-server on ${port}`, async () => {
        if (started.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${started.exitCode}`)
        // Refused until the server listens: not yet, rather than a failure.
        if (node.client.status === 'wait' || node.client.status === 'end') await node.client.connect().catch(() => {})
        return (await node.client.ping().catch(() => undefined)) === 'PONG'
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
  t.teardown(async () => {
    node.client.disconnect()
    await node.kill()
  })
  await node.start()
  return node
}
