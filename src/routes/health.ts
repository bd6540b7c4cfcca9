import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import type { Health } from '../plugins/app/health.ts'
import { ALWAYS_SERVED } from '../route-policy.ts'

const Dependency = Type.Object({
  status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  latency_ms: Type.Number(),
}, { additionalProperties: false })

/** Exactly the contract's /health body. */
const HealthReply = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('shutting_down')]),
  uptime_seconds: Type.Number(),
  memory: Type.Object({
    rss_bytes: Type.Integer(),
    heap_used_bytes: Type.Integer(),
    heap_total_bytes: Type.Integer(),
    external_bytes: Type.Integer(),
  }, { additionalProperties: false }),
  event_loop: Type.Object({
    lag_p50_ms: Type.Number(),
    lag_p99_ms: Type.Number(),
    lag_max_ms: Type.Number(),
    utilization: Type.Number(),
  }, { additionalProperties: false }),
  dependencies: Type.Object({ redis: Dependency, postgres: Dependency }, { additionalProperties: false }),
}, { additionalProperties: false, description: 'The process, its event loop and its dependencies' })

const LiveReply = Type.Object({ status: Type.Literal('ok') }, { description: 'Alive' })

const ReadyReply = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  /** Why the instance is not ready: `shutting_down`, `redis_down`, `postgres_down`. */
  reasons: Type.Array(Type.String()),
}, { description: 'Ready, or why not' })

/** Seconds a probe should wait before asking a failing instance again. */
const RETRY_AFTER_SECONDS = 1

/** The /health body: the process, its event loop and its dependencies, as they are now. */
async function healthReport (health: Health): Promise<Static<typeof HealthReply>> {
  const deps = await health.dependencies()
  const mem = process.memoryUsage()
  const down = deps.redis.status === 'down' || deps.postgres.status === 'down'
  return {
    status: health.shuttingDown ? 'shutting_down' : down ? 'degraded' : 'ok',
    uptime_seconds: Math.round(process.uptime() * 1000) / 1000,
    memory: {
      rss_bytes: mem.rss,
      heap_used_bytes: mem.heapUsed,
      heap_total_bytes: mem.heapTotal,
      external_bytes: mem.external,
    },
    event_loop: health.eventLoop(),
    dependencies: deps,
  }
}

const health: FastifyPluginAsyncTypebox = async (fastify) => {
  const { health } = fastify

  fastify.get('/health', {
    config: ALWAYS_SERVED,
    schema: {
      tags: ['health'],
      operationId: 'getHealth',
      summary: 'Process, event loop and dependency health; 503 when a dependency is down',
      description: '`status` is `ok`, or `degraded` (503) when Redis or Postgres does not answer a ping, or ' +
        '`shutting_down` (503) once the process is stopping.',
      response: { 200: HealthReply, 503: HealthReply },
    },
  }, async (_request, reply) => {
    const report = await healthReport(health)
    if (report.status !== 'ok') reply.code(503).header('retry-after', RETRY_AFTER_SECONDS)
    return report
  })

  fastify.get('/health/live', {
    config: ALWAYS_SERVED,
    schema: {
      tags: ['health'],
      operationId: 'getLiveness',
      summary: 'The process is up and its event loop turns',
      response: { 200: LiveReply },
    },
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/health/ready', {
    config: ALWAYS_SERVED,
    schema: {
      tags: ['health'],
      operationId: 'getReadiness',
      summary: 'Ready for traffic: dependencies reachable and not shutting down',
      description: 'Not ready (503) lists its `reasons`: `shutting_down`, `redis_down`, `postgres_down`.',
      response: { 200: ReadyReply, 503: ReadyReply },
    },
  }, async (_request, reply) => {
    const reasons: string[] = []
    if (health.shuttingDown) reasons.push('shutting_down')
    const deps = await health.dependencies()
    for (const [name, d] of Object.entries(deps)) if (d.status === 'down') reasons.push(`${name}_down`)
    if (reasons.length > 0) {
      reply.code(503).header('retry-after', RETRY_AFTER_SECONDS)
      return { status: 'not_ready' as const, reasons }
    }
    return { status: 'ready' as const, reasons }
  })
}

export default health
