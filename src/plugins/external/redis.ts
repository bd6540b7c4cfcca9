import fp from 'fastify-plugin'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { redactUrl } from '../../redact-url.ts'

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

/**
 * A Redis Cluster client over the given seeds, ready when every slot has a master. It follows
 * MOVED and ASK redirections and refreshes its slot map after a resharding or a failover; during
 * a failover commands fail (503) rather than queue, like a single server's.
 */
export async function connectCluster (seeds: readonly string[], commandTimeout: number, autoPipelining = true): Promise<Cluster> {
  const nodes = seeds.map((seed) => {
    const at = seed.lastIndexOf(':')
    return { host: seed.slice(0, at), port: Number(seed.slice(at + 1)) }
  })
  const { enableAutoPipelining, enableOfflineQueue, ...perNode } = redisOptions(commandTimeout, autoPipelining)
  const cluster = new Cluster(nodes, {
    redisOptions: perNode,
    enableAutoPipelining,
    enableOfflineQueue,
    lazyConnect: true,
    scaleReads: 'master',
    maxRedirections: 16,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2_000,
    clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2_000),
  })
  try {
    await cluster.connect()
  } catch (err) {
    cluster.disconnect()
    throw new Error(`cannot reach the Redis Cluster at ${seeds.join(',')}: ${(err as Error).message}`, { cause: err })
  }
  return cluster
}

/**
 * Throws unless Redis can serve: a server that answers PING, or a cluster whose state is ok (every
 * slot served by a reachable master). Every master the client knows is asked, and one saying ok
 * is enough: after a failover the client may still list the dead master until its slot map is
 * refreshed, and asking that one alone would report a healthy cluster down.
 */
export async function assertServing (redis: Redis | Cluster): Promise<void> {
  if (!(redis instanceof Cluster)) {
    await redis.ping()
    return
  }
  await Promise.any(redis.nodes('master').map(async (node) => {
    const state = /cluster_state:(\w+)/.exec(String(await node.cluster('INFO')))?.[1]
    if (state !== 'ok') throw new Error(`cluster state is ${state ?? 'unknown'} at ${node.options.host}:${node.options.port}`)
  })).catch((err: unknown) => {
    const reasons = err instanceof AggregateError ? err.errors.map((e) => (e as Error).message) : [String(err)]
    throw new Error(`no master says the cluster is ok (${reasons.join('; ') || 'no master known'})`, { cause: err })
  })
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The data's Redis: one server, or a cluster (REDIS_CLUSTER_NODES). */
    redis: Redis | Cluster
  }
}

export default fp(
  async function redisPlugin (fastify) {
    const { REDIS_URL, REDIS_CLUSTER_NODES, REDIS_COMMAND_TIMEOUT_MS } = fastify.config
    const redis: Redis | Cluster = REDIS_CLUSTER_NODES.length > 0
      ? await connectCluster(REDIS_CLUSTER_NODES, REDIS_COMMAND_TIMEOUT_MS)
      : await connectRedis(REDIS_URL, REDIS_COMMAND_TIMEOUT_MS)
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
    fastify.decorate<Redis | Cluster>('redis', redis)
    fastify.addHook('onClose', async () => {
      await redis.quit().catch(() => redis.disconnect())
    })
  },
  { name: 'redis', dependencies: ['config', 'metrics'], fastify: '5.x' }
)
