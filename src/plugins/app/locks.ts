import fp from 'fastify-plugin'
import client from '@platformatic/prom-client'
import { LOCK_RESULTS, LOCK_TYPES, redlockLocks, type LockMeters, type Locks, type LockType } from '../../sale/locks.ts'
import { countersBy, histogramsBy, SECONDS_SLOW } from '../external/metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    locks: Locks
  }
}

/** The lock meters, registered with the service's registry, every series at zero. */
function lockMeters (registry: client.Registry): LockMeters {
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
 * The purchase's locks over the redlock plugin's client, measured. They are colocated with the
 * data when the only lock node is the data's own Redis (the default without a cluster): then a
 * purchase takes and drops its lock inside its begin and settle scripts.
 */
export default fp(
  async function locksPlugin (fastify) {
    const { REDIS_URL, REDIS_CLUSTER_NODES, REDLOCK_REDIS_URLS, LOCK_TTL_MS, LOCK_RETRY_COUNT, LOCK_RETRY_DELAY_MS } = fastify.config
    const colocated = REDIS_CLUSTER_NODES.length === 0 && REDLOCK_REDIS_URLS.length === 1 && REDLOCK_REDIS_URLS[0] === REDIS_URL
    const settings = { ttlMs: LOCK_TTL_MS, retryCount: LOCK_RETRY_COUNT, retryDelayMs: LOCK_RETRY_DELAY_MS, colocated }
    const log = fastify.log.child({ component: 'redlock' })
    fastify.decorate('locks', redlockLocks(fastify.redlock, settings, lockMeters(fastify.meters.registry), log))
  },
  { name: 'locks', dependencies: ['config', 'metrics', 'redlock'], fastify: '5.x' }
)
