import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import { ExecutionError, Redlock, ResourceLockedError, type Lock } from '@sesamecare-oss/redlock'
import { performance } from 'node:perf_hooks'
import { UnavailableError } from '../../errors.ts'
import client from '@platformatic/prom-client'
import { LOCK_RESULTS, LOCK_TYPES, LockBusyError, type Locks, type LockType } from '../../sale/locks.ts'
import { countersBy, histogramsBy, SECONDS_SLOW } from './metrics.ts'
import { connectCluster, connectRedis, redisOptions } from './redis.ts'
import { redactUrl } from '../../redact-url.ts'
import type { RedisClient } from '../../sale/context.ts'

declare module 'fastify' {
  interface FastifyInstance {
    locks: Locks
  }
}

/** Every acquisition, by lock type: its result, how long it waited, how long it held, and losses. */
function lockMeters (registry: client.Registry) {
  const registers = [registry]
  const acquire = new client.Counter({
    name: 'flashsale_lock_acquire_total', help: 'Lock acquisitions by lock type and result.', labelNames: ['lock_type', 'result'], registers,
  })
  const histogram = (name: string, help: string) =>
    histogramsBy(new client.Histogram({ name, help, labelNames: ['lock_type'], buckets: SECONDS_SLOW, registers }), 'lock_type', LOCK_TYPES)
  const byType = <T>(make: (type: LockType) => T) => Object.fromEntries(LOCK_TYPES.map((t) => [t, make(t)])) as Record<LockType, T>
  return {
    acquire: byType((t) => countersBy(acquire, LOCK_RESULTS, t)),
    wait: histogram('flashsale_lock_wait_seconds', 'Time to acquire a lock, retries included.'),
    hold: histogram('flashsale_lock_hold_seconds', 'Time a lock was held.'),
    lost: countersBy(new client.Counter({
      name: 'flashsale_lock_lost_total', help: 'Locks that expired or failed to extend while held.', labelNames: ['lock_type'], registers,
    }), LOCK_TYPES),
  }
}

/**
 * Busy means a quorum of nodes said the resource is locked. Nodes that failed do not count:
 * with most nodes down the lock is unavailable, even though the nodes still up may hold the
 * partial lock of an earlier try.
 */
async function isBusy (err: unknown): Promise<boolean> {
  if (!(err instanceof ExecutionError) || err.attempts.length === 0) return false
  const last = await err.attempts[err.attempts.length - 1]!
  const locked = [...last.votesAgainst.values()].filter((e) => e instanceof ResourceLockedError).length
  return locked >= last.quorumSize
}

/**
 * Redlock over the nodes of REDLOCK_REDIS_URLS (a quorum of independent Redis servers, or the
 * main Redis alone), or over the Redis Cluster when there are none. Every acquisition is
 * measured: result, wait, hold, and locks lost.
 */
export default fp(
  async function redlockPlugin (fastify) {
    const { REDLOCK_REDIS_URLS, REDIS_CLUSTER_NODES, REDIS_COMMAND_TIMEOUT_MS, LOCK_TTL_MS, LOCK_RETRY_COUNT, LOCK_RETRY_DELAY_MS } =
      fastify.config
    const log = fastify.log.child({ component: 'redlock' })
    const meters = lockMeters(fastify.meters.registry)

    // Connections of the lock's own, even to the main Redis, auto-pipelined like it: concurrent
    // purchases' acquisitions and releases share writes. Redlock defines its scripts on a client
    // at first use, which must not meet an auto-pipeline already open: a first acquisition at
    // start-up defines them before any traffic. A minority of lock nodes may be down at start:
    // the quorum is what must be reachable.
    const own: RedisClient[] = []
    // Without lock nodes of their own, the locks live in the cluster that holds the data: one
    // node per lock key, the cluster's replicas for failover.
    const cluster = REDLOCK_REDIS_URLS.length === 0
      ? await connectCluster(REDIS_CLUSTER_NODES, REDIS_COMMAND_TIMEOUT_MS)
      : undefined
    if (cluster) own.push(cluster)
    const settled = await Promise.allSettled(
      REDLOCK_REDIS_URLS.map((url) => connectRedis(url, REDIS_COMMAND_TIMEOUT_MS))
    )
    const clients: RedisClient[] = cluster
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
    const threshold = Math.floor(LOCK_TTL_MS / 5)

    // Not Redlock's using(): it awaits the release before returning, one more round trip on every
    // purchase's answer, and it says neither how long the acquisition took nor whether it was busy.
    async function withLock<T> (type: LockType, resource: string, routine: (signal: AbortSignal) => Promise<T>) {
      const start = performance.now()
      let lock: Lock
      try {
        lock = await redlock.acquire([resource], LOCK_TTL_MS)
      } catch (err) {
        const busy = await isBusy(err)
        meters.acquire[type][busy ? 'busy' : 'error'].inc()
        meters.wait[type].observe((performance.now() - start) / 1000)
        if (busy) throw new LockBusyError()
        throw new UnavailableError('redlock', { cause: err })
      }
      const acquired = performance.now()
      meters.acquire[type].acquired.inc()
      meters.wait[type].observe((acquired - start) / 1000)

      const controller = new AbortController()
      let timer: NodeJS.Timeout | undefined
      let extension: Promise<void> | undefined
      const schedule = () => {
        timer = setTimeout(() => (extension = extend()), Math.max(lock.expiration - Date.now() - threshold, 0))
      }
      const extend = async (): Promise<void> => {
        try {
          lock = await lock.extend(LOCK_TTL_MS)
          schedule()
        } catch (err) {
          if (lock.expiration > Date.now() + 50) return extend()
          meters.lost[type].inc()
          log.warn({ err, lock_type: type }, 'lock lost: could not extend it while held')
          controller.abort(err)
        }
      }
      schedule()
      try {
        return await routine(controller.signal)
      } finally {
        clearTimeout(timer)
        await extension
        meters.hold[type].observe((performance.now() - acquired) / 1000)
        if (!controller.signal.aborted && Date.now() > lock.expiration) meters.lost[type].inc()
        // Released off the request's path; a failed release is harmless: the lock expires on its own.
        lock.release().catch((err) => log.debug({ err }, 'lock release failed'))
      }
    }

    fastify.decorate('locks', { withLock })
    fastify.addHook('onClose', async () => {
      for (const c of own) await c.quit().catch(() => c.disconnect())
    })
  },
  { name: 'redlock', dependencies: ['config', 'metrics'], fastify: '5.x' }
)
