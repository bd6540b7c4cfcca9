import net from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import type { Config } from '../src/config.ts'
import type { LocalServices } from '../src/launcher.ts'
import { ROOT } from '../src/paths.ts'
import { startEmbeddedPostgres } from './embedded-postgres.ts'
import { startLocalRedis } from './local-redis.ts'

export interface LocalOptions {
  dataDir?: string
  /** Where to look for a Redis/Postgres already running. */
  redisHost?: string
  redisPort?: number
  postgresPort?: number
  /** Ports for the ones started here. */
  embeddedPostgresPort?: number
  ownRedisPort?: number
  /** The npm package with the Postgres binaries; this platform's by default. */
  embeddedPostgresPackage?: string
  log?: (line: string) => void
}

const DATABASE = 'flashsale'

/**
 * For `npm start` on a newcomer's machine: when DATABASE_URL or REDIS_URL is not set, use the
 * local server if one answers, else start one under .data/ (Postgres from the binaries of an npm
 * package, `redis-server` from the PATH), else say exactly what to install. What it starts runs
 * apart from the terminal's process group: it stops when stop() says so, after the service drained.
 */
export async function ensureLocalServices (
  env: Record<string, string | undefined>,
  opts: LocalOptions = {}
): Promise<LocalServices> {
  const log = opts.log ?? ((line: string) => console.error(`[flashsale] ${line}`))
  const dataDir = opts.dataDir ?? join(ROOT, '.data')
  const overrides: Partial<Config> = {}
  const pids: LocalServices['pids'] = {}
  const stops: (() => Promise<void>)[] = []
  const stop = async () => {
    if (stops.length === 0) return
    for (const s of stops.splice(0).reverse()) await s().catch(() => {})
    log(`stopped what was started here (${Object.keys(pids).join(', ')})`)
  }
  try {
    if (!env.DATABASE_URL) {
      const port = opts.postgresPort ?? 5432
      const found = await findLocalPostgres(port)
      if (found) {
        overrides.DATABASE_URL = found
      } else {
        log(`no DATABASE_URL and no Postgres on 127.0.0.1:${port}: starting an embedded Postgres under ${dataDir}`)
        const started = await startEmbeddedPostgres({
          dataDir, port: opts.embeddedPostgresPort ?? 54329, database: DATABASE, log, pkg: opts.embeddedPostgresPackage,
        }).catch(cannotStart('Postgres', 'postgresql', 'DATABASE_URL'))
        overrides.DATABASE_URL = started.url
        pids.postgres = started.pid
        stops.push(started.stop)
      }
    }
    if (!env.REDIS_URL && !env.REDIS_CLUSTER_NODES) {
      const host = opts.redisHost ?? '127.0.0.1'
      const port = opts.redisPort ?? 6379
      if (!(await redisAnswers(host, port))) {
        log(`no REDIS_URL and no Redis on ${host}:${port}: starting redis-server under ${join(dataDir, 'redis')}`)
        const started = await startLocalRedis(join(dataDir, 'redis'), opts.ownRedisPort ?? 6390, redisAnswers)
          .catch(cannotStart('Redis', 'redis-server', 'REDIS_URL'))
        overrides.REDIS_URL = started.url
        pids.redis = started.pid
        stops.push(started.stop)
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { overrides, pids, stop }
}

async function findLocalPostgres (port: number): Promise<string | undefined> {
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

async function redisAnswers (host: string, port: number): Promise<boolean> {
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

function cannotStart (what: string, debian: string, variable: string) {
  return (err: Error): never => {
    throw new Error(
      `${what} is not reachable on 127.0.0.1 and could not be started here: install it ` +
        `(apt-get install -y ${debian}) or set ${variable} (${err.message})`
    )
  }
}
