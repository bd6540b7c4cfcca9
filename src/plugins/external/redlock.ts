import fp from 'fastify-plugin'
import { Redis, type Cluster } from 'ioredis'
import { Redlock, ResourceLockedError } from '@sesamecare-oss/redlock'
import { connectCluster, connectRedis, redisOptions } from './redis.ts'
import { redactUrl } from '../../redact-url.ts'

declare module 'fastify' {
  interface FastifyInstance {
    redlock: Redlock
  }
}

/**
 * Redlock over the nodes of REDLOCK_REDIS_URLS (a quorum of independent Redis servers, or the
 * main Redis alone), or over the Redis Cluster when there are none: connected, warmed up,
 * decorated as `redlock`, closed. What a lock means (its retries, meters, extension) is the
 * domain's (src/sale/locks.ts).
 */
export default fp(
  async function redlockPlugin (fastify) {
    const { REDLOCK_REDIS_URLS, REDIS_CLUSTER_NODES, REDIS_COMMAND_TIMEOUT_MS, LOCK_TTL_MS, LOCK_RETRY_COUNT, LOCK_RETRY_DELAY_MS } =
      fastify.config
    const log = fastify.log.child({ component: 'redlock' })

    // Connections of the lock's own, even to the main Redis, auto-pipelined like it: concurrent
    // purchases' acquisitions and releases share writes. Redlock defines its scripts on a client
    // at first use, which must not meet an auto-pipeline already open: a first acquisition at
    // start-up defines them before any traffic. A minority of lock nodes may be down at start:
    // the quorum is what must be reachable.
    const own: Array<Redis | Cluster> = []
    // Without lock nodes of their own, the locks live in the cluster that holds the data: one
    // node per lock key, the cluster's replicas for failover.
    const cluster = REDLOCK_REDIS_URLS.length === 0
      ? await connectCluster(REDIS_CLUSTER_NODES, REDIS_COMMAND_TIMEOUT_MS)
      : undefined
    if (cluster) own.push(cluster)
    const settled = await Promise.allSettled(
      REDLOCK_REDIS_URLS.map((url) => connectRedis(url, REDIS_COMMAND_TIMEOUT_MS))
    )
    const clients: Array<Redis | Cluster> = cluster
      ? [cluster]
      : settled.map((s, i) => {
        if (s.status === 'fulfilled') {
          own.push(s.value)
          return s.value
        }
        const url = REDLOCK_REDIS_URLS[i]!
        log.warn({ node: redactUrl(url), err: s.reason }, 'lock node unreachable at start; will keep trying')
        const retrying = new Redis(url, redisOptions(REDIS_COMMAND_TIMEOUT_MS))
        own.push(retrying)
        return retrying
      })
    // Node failures surface through the lock attempts (and the redlock `error` event below).
    for (const c of own) c.on('error', () => {})
    const quorum = Math.floor(clients.length / 2) + 1
    if (!cluster && settled.filter((s) => s.status === 'fulfilled').length < quorum) {
      for (const c of own) c.disconnect()
      throw new Error(`cannot reach a quorum (${quorum} of ${clients.length}) of the Redlock nodes in REDLOCK_REDIS_URLS`)
    }

    const redlock = new Redlock(clients, {
      retryCount: LOCK_RETRY_COUNT,
      retryDelay: LOCK_RETRY_DELAY_MS,
      retryJitter: Math.floor(LOCK_RETRY_DELAY_MS / 2),
    })
    redlock.on('error', (err) => {
      if (!(err instanceof ResourceLockedError)) log.warn({ err }, 'lock node error')
    })
    await redlock.acquire([`${fastify.config.REDIS_KEY_PREFIX}:lock-warmup:${process.pid}`], LOCK_TTL_MS)
      .then((lock) => lock.release(), () => {})
    fastify.decorate('redlock', redlock)
    fastify.addHook('onClose', async () => {
      for (const c of own) await c.quit().catch(() => c.disconnect())
    })
  },
  { name: 'redlock', dependencies: ['config'], fastify: '5.x' }
)
