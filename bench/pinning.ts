import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { cpus } from 'node:os'
import { setTimeout as delay } from 'node:timers/promises'
import { Redis } from 'ioredis'

/**
 * Where each process of the bench runs. On a machine of two cores or more, with `taskset`, the
 * service gets the last core to itself and everything else (the load generator, the bench's own
 * Redis) shares the others, so the service's CPU per request is not inflated by the load's
 * context switches on its core. BENCH_PIN=0 leaves the scheduler free. Postgres is the machine's
 * own server and is not pinned.
 */
export interface Pinning {
  /** The cpu list (`taskset -c`) of the service, or undefined when nothing is pinned. */
  service?: string
  /** The cpu list of the load generator and the bench's Redis. */
  others?: string
}

export function pinning (env: Record<string, string | undefined>): Pinning {
  const n = cpus().length
  if (env.BENCH_PIN === '0' || n < 2 || spawnSync('taskset', ['-V']).status !== 0) return {}
  return { service: String(n - 1), others: n === 2 ? '0' : `0-${n - 2}` }
}

/** Moves this process (every thread) to `cpuList`. */
export function pinSelf (cpuList: string | undefined): void {
  if (cpuList) spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(process.pid)], { stdio: 'ignore' })
}

/** The command line that runs `argv` on `cpuList` (unchanged when there is none). */
export function pinned (cpuList: string | undefined, argv: string[]): string[] {
  return cpuList ? ['taskset', '-c', cpuList, ...argv] : argv
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/**
 * A Redis of the bench's own (when `redis-server` is installed), so its CPU time per request
 * counts the service's commands only, not those of anything else on the machine's Redis.
 */
export async function ownRedis (cpuList: string | undefined): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined
  const port = await freePort()
  const [command, ...args] = pinned(cpuList, ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
  const child: ChildProcess = spawn(command!, args, { stdio: 'ignore' })
  const url = `redis://127.0.0.1:${port}`
  for (let tries = 0; ; tries++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      await probe.ping()
      break
    } catch (err) {
      if (tries === 50 || child.exitCode !== null) throw new Error(`the bench's redis-server did not start: ${String(err)}`)
      await delay(100)
    } finally {
      probe.disconnect()
    }
  }
  return {
    url,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    }),
  }
}
