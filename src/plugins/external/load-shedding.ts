import fp from 'fastify-plugin'
import underPressure, { type FastifyUnderPressureOptions as UnderPressureOptions } from '@fastify/under-pressure'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS, RETRY_AFTER_SECONDS } from '../../errors.ts'
import client from '@platformatic/prom-client'
import { countersBy } from './metrics.ts'

/** Why a request was shed: one reason per limit of @fastify/under-pressure. */
export const SHED_REASONS = ['event_loop_delay', 'heap_used', 'rss', 'event_loop_utilization', 'health_check'] as const
type ShedReason = (typeof SHED_REASONS)[number]

/** under-pressure's name for the limit a request was shed on, as the reason it is counted under. */
const SHED_REASON: Record<string, ShedReason> = {
  eventLoopDelay: 'event_loop_delay',
  heapUsedBytes: 'heap_used',
  rssBytes: 'rss',
  eventLoopUtilization: 'event_loop_utilization',
  healthCheck: 'health_check',
}

/**
 * Load shedding with @fastify/under-pressure: past the configured event-loop delay, heap or RSS,
 * requests answer 503 `unavailable` with Retry-After, counted by reason. A route that declares
 * `config.shed: false` is never shed: operators' probes and scrapers need it most then.
 */
export default fp(
  async function loadShedding (fastify) {
    const { config, meters } = fastify
    const shed = countersBy(new client.Counter({
      name: 'flashsale_load_shed_total',
      help: 'Requests refused with 503 because the process was under pressure, by reason.',
      labelNames: ['reason'],
      registers: [meters.registry],
    }), SHED_REASONS)
    const refuse = (request: FastifyRequest, reply: FastifyReply, type: string) => {
      if (request.routeOptions.config.shed === false) return undefined
      const reason = SHED_REASON[type]
      if (reason) shed[reason].inc()
      request.routeOptions.config.whenShed?.(request)
      reply.code(ERRORS.unavailable.status).header('retry-after', RETRY_AFTER_SECONDS)
      return { error: 'unavailable', message: ERRORS.unavailable.message }
    }
    await fastify.register(underPressure, {
      maxEventLoopDelay: config.LOAD_SHED_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: config.LOAD_SHED_HEAP_USED_BYTES,
      maxRssBytes: config.LOAD_SHED_RSS_BYTES,
      // under-pressure sends what the handler returns and runs no further hook (its types say void).
      pressureHandler: refuse as unknown as UnderPressureOptions['pressureHandler'],
    })
  },
  { name: 'load-shedding', dependencies: ['config', 'metrics'], fastify: '5.x' }
)
