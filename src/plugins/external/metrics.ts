import fp from 'fastify-plugin'
import fastifyMetrics from 'fastify-metrics'
import client from '@platformatic/prom-client'
import { performance } from 'node:perf_hooks'
import {
  CHECKOUT_RESULTS, PURCHASE_RESULTS, QUERIES, REDIS_COMMANDS, SETTLE_OUTCOMES, type SaleMeters,
} from '../../sale/meters.ts'

export const SECONDS_FAST = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
export const SECONDS_SLOW = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

// prom-client creates a labelled series on its first inc or observe. Until then a panel shows
// "No data", and a series that appears at 1 has no increase() to alert on: every known label
// value starts at zero instead, and is bound once, so hot paths only increment.

/** Children of a labelled counter, one per value (or per combination), each at zero. */
export function countersBy<K extends string> (counter: client.Counter<string>, values: readonly K[], ...fixed: string[]) {
  const out = {} as Record<K, client.Counter.Internal>
  for (const v of values) {
    const child = counter.labels(...fixed, v)
    child.inc(0)
    out[v] = child
  }
  return out
}

/** Children of a histogram with one label, one per value, every bucket at zero. */
export function histogramsBy<L extends string, K extends string> (histogram: client.Histogram<L>, label: L, values: readonly K[]) {
  const out = {} as Record<K, client.Histogram.Internal<L>>
  for (const v of values) {
    const labels = { [label]: v } as unknown as client.LabelValues<L>
    histogram.zero(labels)
    out[v] = histogram.labels(labels)
  }
  return out
}

/**
 * Runs calls timed into a histogram and counted in an error counter, both by the call's name:
 * one helper for Redis commands and Postgres queries alike.
 */
function timer<N extends string> (
  seconds: Record<N, client.Histogram.Internal<string>>,
  errors: Record<N, client.Counter.Internal>,
  inFlight = { count: 0 }
) {
  return async <T>(name: N, run: () => Promise<T>): Promise<T> => {
    const start = performance.now()
    inFlight.count++
    try {
      return await run()
    } catch (err) {
      errors[name].inc()
      throw err
    } finally {
      inFlight.count--
      seconds[name].observe((performance.now() - start) / 1000)
    }
  }
}

const idle = { inc () {} }
const idleBy = <K extends string>(values: readonly K[]) => Object.fromEntries(values.map((v) => [v, idle])) as Record<K, typeof idle>

/** Meters that record nothing (METRICS=off), for measuring what the real ones cost. */
function idleMeters (): SaleMeters {
  return {
    checkout: idleBy(CHECKOUT_RESULTS),
    purchase: idleBy(PURCHASE_RESULTS),
    settled: idleBy(SETTLE_OUTCOMES),
    expired: idle,
    cancelled: idle,
    attemptsPersisted: idle,
    attemptsDropped: idle,
    attemptsDeadLettered: idle,
    redis: (_name, run) => run(),
    db: (_name, run) => run(),
  }
}

/** The domain's meters: what the sale decides and how long its Redis and Postgres calls take. */
function saleMeters (registers: client.Registry[], dbInFlight: { count: number }): SaleMeters {
  const counter = (name: string, help: string, labelNames: string[] = []) => new client.Counter({ name, help, labelNames, registers })
  const histogram = (name: string, help: string, label: string) =>
    new client.Histogram({ name, help, labelNames: [label], buckets: SECONDS_FAST, registers })
  return {
    checkout: countersBy(counter('flashsale_checkout_attempts_total', 'Checkout attempts by result.', ['result']), CHECKOUT_RESULTS),
    purchase: countersBy(counter('flashsale_purchase_attempts_total', 'Purchase attempts by result.', ['result']), PURCHASE_RESULTS),
    settled: countersBy(counter('flashsale_reservations_settled_total',
      'Committing reservations left by a crash and settled against Postgres, by outcome.', ['outcome']), SETTLE_OUTCOMES),
    expired: counter('flashsale_reservations_expired_total', 'Reservations that expired and returned their unit to stock.'),
    cancelled: counter('flashsale_reservations_cancelled_total',
      'Reservations released because their checkout was answered 503 (or its client left) before Redis ran it.'),
    attemptsPersisted: counter('flashsale_attempt_log_persisted_total', 'Checkout attempts written to Postgres.'),
    attemptsDropped: counter('flashsale_attempt_log_dropped_total',
      'Checkout attempts not persisted because the in-process buffer was full.'),
    attemptsDeadLettered: counter('flashsale_attempt_log_dead_letter_total',
      'Checkout attempts Postgres refused even alone, kept raw in checkout_attempts_dead_letter.'),
    redis: timer(
      histogramsBy(histogram('flashsale_redis_command_duration_seconds', 'Redis command and Lua script latency, by name.', 'command'),
        'command', REDIS_COMMANDS),
      countersBy(counter('flashsale_redis_errors_total', 'Redis commands that failed, by name.', ['command']), REDIS_COMMANDS)),
    db: timer(
      histogramsBy(histogram('flashsale_db_query_duration_seconds', 'Postgres query latency, by query name.', 'query'), 'query', QUERIES),
      countersBy(counter('flashsale_db_errors_total', 'Postgres queries that failed, by query name.', ['query']), QUERIES),
      dbInFlight),
  }
}

export interface Meters extends SaleMeters {
  /** This app's registry: plugins register the collectors of what they own with it. */
  registry: client.Registry
  /** Postgres queries running now (with the pool size, what the pool gauge reports). */
  dbInFlight: { readonly count: number }
}

declare module 'fastify' {
  interface FastifyInstance {
    meters: Meters
  }
}

/**
 * Prometheus metrics: route latency from fastify-metrics, Node's default metrics, and the sale
 * domain's meters, in a registry of this app's own (apps never share series). Each plugin
 * registers the metrics of what it owns (the pool, the locks, the sale's progress) with it.
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
        enabled: { histogram: fastify.config.METRICS === 'on', summary: false },
        registeredRoutesOnly: true,
        groupStatusCodes: false,
        overrides: {
          histogram: { name: 'http_request_duration_seconds', buckets: SECONDS_SLOW, registers: [registry] },
          summary: { registers: [] },
        },
      },
    } as never)
    const dbInFlight = { count: 0 }
    const meters = fastify.config.METRICS === 'on' ? saleMeters([registry], dbInFlight) : idleMeters()
    fastify.decorate('meters', { registry, dbInFlight, ...meters } satisfies Meters)
  },
  { name: 'metrics', dependencies: ['config'], fastify: '5.x' }
)
