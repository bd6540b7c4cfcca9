import fp from 'fastify-plugin'
import client from '@platformatic/prom-client'
import { performance } from 'node:perf_hooks'
import {
  CHECKOUT_RESULTS, PURCHASE_RESULTS, QUERIES, REDIS_COMMANDS, SETTLE_OUTCOMES, type SaleMeters,
} from '../../sale/meters.ts'
import { untraced } from '../../sale/spans.ts'
import { countersBy, histogramsBy, SECONDS_FAST } from '../external/metrics.ts'

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
    ...untraced,
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
function recordingMeters (registers: client.Registry[], dbInFlight: { count: number }): SaleMeters {
  const counter = (name: string, help: string, labelNames: string[] = []) => new client.Counter({ name, help, labelNames, registers })
  const histogram = (name: string, help: string, label: string) =>
    new client.Histogram({ name, help, labelNames: [label], buckets: SECONDS_FAST, registers })
  return {
    ...untraced,
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

declare module 'fastify' {
  interface FastifyInstance {
    saleMeters: SaleMeters
  }
}

/**
 * The sale domain's meters (SaleMeters), in the app's registry: what the sale decides, and how
 * long its Redis and Postgres calls take. With METRICS=off they record nothing.
 */
export default fp(
  async function saleMetersPlugin (fastify) {
    const { registry, dbInFlight } = fastify.meters
    const meters = fastify.config.METRICS === 'on' ? recordingMeters([registry], dbInFlight) : idleMeters()
    fastify.decorate('saleMeters', meters)
  },
  { name: 'sale-meters', dependencies: ['config', 'metrics'], fastify: '5.x' }
)
