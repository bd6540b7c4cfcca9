import fp from 'fastify-plugin'
import fastifyMetrics from 'fastify-metrics'
import client from '@platformatic/prom-client'
import type { RouteHandlerMethod } from 'fastify'
import { ALWAYS_SERVED } from '../../route-policy.ts'
import { openMetrics, OPENMETRICS_CONTENT_TYPE, wantsOpenMetrics } from '../../open-metrics.ts'

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

export interface Meters {
  /** This app's registry: plugins register the collectors of what they own with it. */
  registry: client.Registry
  /**
   * Postgres queries running now (with the pool size, what the pool gauge reports), counted by
   * the sale's meters.
   */
  dbInFlight: { count: number }
}

declare module 'fastify' {
  interface FastifyInstance {
    meters: Meters
  }
}

/**
 * Prometheus metrics: route latency from fastify-metrics and Node's default metrics, in a
 * registry of this app's own (apps never share series). Each plugin registers the metrics of
 * what it owns (the pool, the locks, the sale's meters and progress) with it.
 */
export default fp(
  async function metricsPlugin (fastify) {
    const registry = new client.Registry()
    // Prometheus asks for OpenMetrics first: there the route histogram carries exemplars.
    fastify.addHook('onRoute', (route) => {
      if (route.url !== '/metrics') return
      const text = route.handler
      route.handler = async function (request, reply) {
        if (!wantsOpenMetrics(request.headers.accept)) return text.call(this, request, reply)
        return reply.type(OPENMETRICS_CONTENT_TYPE).send(await openMetrics(registry))
      } as RouteHandlerMethod
    })
    await fastify.register(fastifyMetrics.default ?? fastifyMetrics, {
      // Scraped when the service is busiest: neither rate limited nor shed.
      endpoint: { url: '/metrics', logLevel: 'fatal', exposeHeadRoute: false, config: ALWAYS_SERVED },
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
    fastify.decorate('meters', { registry, dbInFlight: { count: 0 } } satisfies Meters)
  },
  { name: 'metrics', dependencies: ['config'], fastify: '5.x' }
)
