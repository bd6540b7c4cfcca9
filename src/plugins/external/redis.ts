import fp from 'fastify-plugin'
import { Redis, type RedisOptions } from 'ioredis'

/**
 * Options shared by every connection of the service: commands fail at once while Redis is
 * unreachable (no offline queue), and a command that gets no answer times out, so a request
 * never hangs on Redis.
 */
export function redisOptions (commandTimeout: number, autoPipelining = true): RedisOptions {
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
export async function connectRedis (url: string, commandTimeout: number, autoPipelining = true): Promise<Redis> {
  const redis = new Redis(url, { ...redisOptions(commandTimeout, autoPipelining), lazyConnect: true })
  try {
    await redis.connect()
  } catch (err) {
    redis.disconnect()
    throw new Error(`cannot reach Redis at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err })
  }
  return redis
}

export function redactUrl (url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@')
}

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis
  }
}

export default fp(
  async function redisPlugin (fastify) {
    const { REDIS_URL, REDIS_COMMAND_TIMEOUT_MS } = fastify.config
    const redis = await connectRedis(REDIS_URL, REDIS_COMMAND_TIMEOUT_MS)
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
  { name: 'redis', dependencies: ['config', 'metrics'], fastify: '5.x' }
)
