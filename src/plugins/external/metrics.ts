import fp from 'fastify-plugin'
import fastifyMetrics from 'fastify-metrics'
import client from '@platformatic/prom-client'
import { performance } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'

export const CHECKOUT_RESULTS = [
  'success', 'sold_out', 'user_limit', 'item_not_found', 'sale_not_active', 'invalid', 'rate_limited', 'error',
] as const
export type CheckoutResult = (typeof CHECKOUT_RESULTS)[number]

export const PURCHASE_RESULTS = ['success', 'replay', 'code_not_found', 'code_expired', 'lock_busy', 'error'] as const
export type PurchaseResult = (typeof PURCHASE_RESULTS)[number]

export const LOCK_TYPES = ['purchase', 'settle'] as const
export type LockType = (typeof LOCK_TYPES)[number]
export const LOCK_RESULTS = ['acquired', 'busy', 'error'] as const
export type LockResult = (typeof LOCK_RESULTS)[number]

/** How a reservation left committing by a crash ended: bought, back to stock, or reserved again. */
export const SETTLE_OUTCOMES = ['sold', 'returned', 'reserved'] as const

/** Why a request was shed: one reason per limit of @fastify/under-pressure. */
export const SHED_REASONS = ['event_loop_delay', 'heap_used', 'rss', 'event_loop_utilization', 'health_check'] as const
export type ShedReason = (typeof SHED_REASONS)[number]

/** Fixed query names: the only values the `query` label takes. */
export const QUERIES = [
  'purchase_insert', 'purchase_by_code', 'attempts_insert', 'attempts_dead_letter', 'sales_recent', 'sale_by_id', 'sale_create',
  'sale_sold_counts', 'ping',
] as const
export type QueryName = (typeof QUERIES)[number]

export const REDIS_COMMANDS = [
  'checkout', 'checkout_cancel', 'purchase_begin', 'purchase_settle', 'sweep', 'sale_sync', 'sale_load',
  'sale_read', 'items_read', 'xreadgroup', 'xack', 'xautoclaim', 'xlen', 'ping',
] as const
export type RedisCommand = (typeof REDIS_COMMANDS)[number]

const SECONDS_FAST = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
const SECONDS_HTTP = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const SECONDS_LOCK = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

type Children<K extends string, C> = Record<K, C>
function children<K extends string, C> (keys: readonly K[], make: (k: K) => C): Children<K, C> {
  return Object.fromEntries(keys.map((k) => [k, make(k)])) as Children<K, C>
}

// prom-client creates a labelled series on its first inc or observe. Until then a panel shows
// "No data", and a series that appears at 1 has no increase() to alert on: every known label
// value starts at zero instead.

/** A counter child, at zero from the start. */
function counting (counter: client.Counter<string>, ...values: string[]): client.Counter.Internal {
  const child = counter.labels(...values)
  child.inc(0)
  return child
}

/** A histogram child, every bucket at zero from the start. */
function timing<L extends string> (histogram: client.Histogram<L>, label: L, value: string): client.Histogram.Internal<L> {
  const labels = { [label]: value } as client.LabelValues<L>
  histogram.zero(labels)
  return histogram.labels(labels)
}

/**
 * Values read at scrape time (pool state, sale progress, backlog) by the plugin that owns them.
 * Each may be async: a scrape waits for it.
 */
export interface ScrapeHooks {
  pool?: () => void
  sale?: () => Promise<void>
  backlog?: () => Promise<void>
}

/** The service's own metrics; label children are bound once so hot paths only increment. */
function createMeters (registry: client.Registry) {
  const registers = [registry]
  const onScrape: ScrapeHooks = {}
  const checkout = new client.Counter({
    name: 'flashsale_checkout_attempts_total', help: 'Checkout attempts by result.', labelNames: ['result'], registers,
  })
  const purchase = new client.Counter({
    name: 'flashsale_purchase_attempts_total', help: 'Purchase attempts by result.', labelNames: ['result'], registers,
  })
  const lockAcquire = new client.Counter({
    name: 'flashsale_lock_acquire_total',
    help: 'Lock acquisitions by lock type and result.',
    labelNames: ['lock_type', 'result'],
    registers,
  })
  const lockWait = new client.Histogram({
    name: 'flashsale_lock_wait_seconds',
    help: 'Time to acquire a lock, retries included.',
    labelNames: ['lock_type'],
    buckets: SECONDS_LOCK,
    registers,
  })
  const lockHold = new client.Histogram({
    name: 'flashsale_lock_hold_seconds',
    help: 'Time a lock was held.',
    labelNames: ['lock_type'],
    buckets: SECONDS_LOCK,
    registers,
  })
  const lockLost = new client.Counter({
    name: 'flashsale_lock_lost_total',
    help: 'Locks that expired or failed to extend while held.',
    labelNames: ['lock_type'],
    registers,
  })
  const redis = new client.Histogram({
    name: 'flashsale_redis_command_duration_seconds',
    help: 'Redis command and Lua script latency, by name.',
    labelNames: ['command'],
    buckets: SECONDS_FAST,
    registers,
  })
  const redisErrors = new client.Counter({
    name: 'flashsale_redis_errors_total', help: 'Redis commands that failed, by name.', labelNames: ['command'], registers,
  })
  const db = new client.Histogram({
    name: 'flashsale_db_query_duration_seconds',
    help: 'Postgres query latency, by query name.',
    labelNames: ['query'],
    buckets: SECONDS_FAST,
    registers,
  })
  const dbErrors = new client.Counter({
    name: 'flashsale_db_errors_total', help: 'Postgres queries that failed, by query name.', labelNames: ['query'], registers,
  })
  const expired = new client.Counter({
    name: 'flashsale_reservations_expired_total', help: 'Reservations that expired and returned their unit to stock.', registers,
  })
  const settled = new client.Counter({
    name: 'flashsale_reservations_settled_total',
    help: 'Committing reservations left by a crash and settled against Postgres, by outcome.',
    labelNames: ['outcome'],
    registers,
  })
  for (const outcome of SETTLE_OUTCOMES) counting(settled, outcome)
  const cancelled = new client.Counter({
    name: 'flashsale_reservations_cancelled_total',
    help: 'Reservations released because their checkout was answered 503 before Redis ran it.',
    registers,
  })
  const attemptsPersisted = new client.Counter({
    name: 'flashsale_attempt_log_persisted_total', help: 'Checkout attempts written to Postgres.', registers,
  })
  const attemptsDropped = new client.Counter({
    name: 'flashsale_attempt_log_dropped_total',
    help: 'Checkout attempts not persisted because the in-process buffer was full.',
    registers,
  })
  const attemptsDeadLettered = new client.Counter({
    name: 'flashsale_attempt_log_dead_letter_total',
    help: 'Checkout attempts Postgres refused even alone, kept raw in checkout_attempts_dead_letter.',
    registers,
  })
  const shed = new client.Counter({
    name: 'flashsale_load_shed_total',
    help: 'Requests refused with 503 because the process was under pressure, by reason.',
    labelNames: ['reason'],
    registers,
  })
  const attemptBacklog = new client.Gauge({
    name: 'flashsale_attempt_log_backlog',
    help: 'Checkout attempts recorded but not yet in Postgres.',
    registers,
    collect: () => onScrape.backlog?.(),
  })
  let lastElu = performance.eventLoopUtilization()
  new client.Gauge({
    name: 'flashsale_event_loop_utilization',
    help: 'Event loop utilization (0-1) since the previous scrape.',
    registers,
    collect () {
      const now = performance.eventLoopUtilization()
      this.set(performance.eventLoopUtilization(now, lastElu).utilization)
      lastElu = now
    },
  })
  const pool = new client.Gauge({
    name: 'flashsale_db_pool_connections',
    help: 'Postgres pool connections by state.',
    labelNames: ['state'],
    registers,
    collect: () => onScrape.pool?.(),
  })
  // The registry collects every metric at once: sold and reserved wait for the read that total starts.
  let saleRead: Promise<void> | undefined
  const units = {
    // Registered first: its scrape reads the sale once and sets all three.
    total: new client.Gauge({
      name: 'flashsale_sale_units_total',
      help: 'Units on sale in the current sale.',
      registers,
      // A failed read (counted in flashsale_redis_errors_total) keeps the last values and the scrape.
      collect: () => (saleRead = onScrape.sale?.().catch(() => {})),
    }),
    sold: new client.Gauge({
      name: 'flashsale_sale_units_sold', help: 'Units sold in the current sale.', registers, collect: () => saleRead,
    }),
    reserved: new client.Gauge({
      name: 'flashsale_sale_units_reserved', help: 'Units reserved, not yet bought or expired.', registers, collect: () => saleRead,
    }),
  }
  const saleInfo = new client.Gauge({
    name: 'flashsale_sale_active', help: '1 while a sale is running.', registers,
  })
  // The default metrics lack V8's heap limit, without which heap use cannot be read as a share.
  new client.Gauge({
    name: 'flashsale_heap_limit_bytes',
    help: 'V8 heap size limit of the process.',
    registers,
    collect () {
      this.set(getHeapStatistics().heap_size_limit)
    },
  })

  const timeRedis = children(REDIS_COMMANDS, (c) => timing(redis, 'command', c))
  const failRedis = children(REDIS_COMMANDS, (c) => counting(redisErrors, c))
  const timeDb = children(QUERIES, (q) => timing(db, 'query', q))
  const failDb = children(QUERIES, (q) => counting(dbErrors, q))
  const lockWaitBy = children(LOCK_TYPES, (t) => timing(lockWait, 'lock_type', t))
  const lockHoldBy = children(LOCK_TYPES, (t) => timing(lockHold, 'lock_type', t))
  const lockLostBy = children(LOCK_TYPES, (t) => counting(lockLost, t))
  const lockAcquireBy = children(LOCK_TYPES, (t) => children(LOCK_RESULTS, (r) => counting(lockAcquire, t, r)))
  const dbInFlight = { count: 0 }

  return {
    registry,
    onScrape,
    checkout: children(CHECKOUT_RESULTS, (r) => counting(checkout, r)),
    purchase: children(PURCHASE_RESULTS, (r) => counting(purchase, r)),
    expired,
    cancelled,
    settled,
    shed: children(SHED_REASONS, (r) => counting(shed, r)),
    attemptsPersisted,
    attemptsDropped,
    attemptsDeadLettered,
    attemptBacklog,
    pool,
    /** Postgres queries running now: with the pool size, what the pool gauge reports. */
    dbInFlight,
    units,
    saleInfo,
    lock: { acquire: lockAcquireBy, wait: lockWaitBy, hold: lockHoldBy, lost: lockLostBy },

    /** Times a Redis call (a command or a Lua script) under its fixed name. */
    async redis<T>(command: RedisCommand, run: () => Promise<T>): Promise<T> {
      const start = performance.now()
      try {
        return await run()
      } catch (err) {
        failRedis[command].inc()
        throw err
      } finally {
        timeRedis[command].observe((performance.now() - start) / 1000)
      }
    },

    /** Times a Postgres query under its fixed name. */
    async db<T>(query: QueryName, run: () => Promise<T>): Promise<T> {
      const start = performance.now()
      dbInFlight.count++
      try {
        return await run()
      } catch (err) {
        failDb[query].inc()
        throw err
      } finally {
        dbInFlight.count--
        timeDb[query].observe((performance.now() - start) / 1000)
      }
    },
  }
}

export type Meters = ReturnType<typeof createMeters>

declare module 'fastify' {
  interface FastifyInstance {
    meters: Meters
  }
}

/**
 * Prometheus metrics: route latency from fastify-metrics, Node's default metrics, and the
 * service's own meters, all in a registry of this app's own (apps never share series).
 */
export default fp(
  async function metricsPlugin (fastify) {
    const registry = new client.Registry()
    await fastify.register(fastifyMetrics.default ?? fastifyMetrics, {
      endpoint: '/metrics',
      name: 'routeMetrics',
      promClient: client,
      clearRegisterOnInit: true,
      defaultMetrics: { enabled: true, register: registry },
      routeMetrics: {
        enabled: { histogram: true, summary: false },
        registeredRoutesOnly: true,
        groupStatusCodes: false,
        overrides: {
          histogram: { name: 'http_request_duration_seconds', buckets: SECONDS_HTTP, registers: [registry] },
          summary: { registers: [] },
        },
      },
    } as never)
    fastify.decorate('meters', createMeters(registry))
  },
  { name: 'metrics', fastify: '5.x' }
)
