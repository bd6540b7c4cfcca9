import fp from 'fastify-plugin'
import { Redis, type RedisOptions } from 'ioredis'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../paths.js'

/** The Lua scripts in lua/, by command name and number of keys. */
const SCRIPTS = {
  checkout: { file: 'checkout.lua', keys: 8 },
  checkoutCancel: { file: 'checkout-cancel.lua', keys: 5 },
  purchaseBegin: { file: 'purchase-begin.lua', keys: 5 },
  purchaseSettle: { file: 'purchase-settle.lua', keys: 5 },
  sweep: { file: 'sweep.lua', keys: 5 },
  saleSync: { file: 'sale-sync.lua', keys: 5 },
  saleLoad: { file: 'sale-load.lua', keys: 6 },
} as const

type Arg = string | number
type Keys5 = readonly [string, string, string, string, string]

/** ioredis with the Lua scripts registered through defineCommand (EVALSHA, NOSCRIPT fallback). */
export interface FlashRedis extends Redis {
  checkout(meta: string, stock: string, users: string, res: string, due: string, log: string,
    ipRate: string, userRate: string, item: string, user: string, code: string,
    ipMax: number, userMax: number, windowMs: number): Promise<[string, number]>
  checkoutCancel(...args: [...Keys5, code: string]): Promise<number>
  purchaseBegin(...args: [...Keys5, code: string, leaseMs: number]): Promise<string[]>
  purchaseSettle(...args: [...Keys5, code: string, outcome: string, purchaseId: string]): Promise<[string, string]>
  sweep(...args: [...Keys5, limit: number, leaseMs: number]): Promise<[number, number, ...string[]]>
  saleSync(...args: [...Keys5, ...Arg[]]): Promise<number>
  saleLoad(...args: Arg[]): Promise<number>
}

export function defineScripts(redis: Redis): FlashRedis {
  for (const [name, { file, keys }] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: keys, lua: readFileSync(join(ROOT, 'lua', file), 'utf8') })
  }
  return redis as FlashRedis
}

/**
 * Options shared by every connection of the service: commands fail at once while Redis is
 * unreachable (no offline queue), and a command that gets no answer times out, so a request
 * never hangs on Redis.
 */
export function redisOptions(commandTimeout: number, autoPipelining = true): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout,
    connectTimeout: 2_000,
    enableAutoPipelining: autoPipelining,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  }
}

/** Opens a connection and waits until it is ready, failing loudly when Redis is unreachable. */
export async function connectRedis(url: string, commandTimeout: number, autoPipelining = true): Promise<Redis> {
  const redis = new Redis(url, { ...redisOptions(commandTimeout, autoPipelining), lazyConnect: true })
  try {
    await redis.connect()
  } catch (err) {
    redis.disconnect()
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err })
  }
  return redis
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@')
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: FlashRedis
  }
}

export default fp(
  async function redisPlugin(fastify) {
    const { REDIS_URL, REDIS_COMMAND_TIMEOUT_MS } = fastify.config
    const redis = defineScripts(await connectRedis(REDIS_URL, REDIS_COMMAND_TIMEOUT_MS))
    const log = fastify.log.child({ component: 'redis' })
    let down = false
    redis.on('error', (err) => {
      if (!down) log.error({ err }, 'redis connection error')
      down = true
    })
    redis.on('ready', () => {
      if (down) log.info('redis connection restored')
      down = false
    })
    fastify.decorate('redis', redis)
    fastify.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect())
    })
  },
  { name: 'redis', dependencies: ['config', 'metrics'], fastify: '5.x' },
)
