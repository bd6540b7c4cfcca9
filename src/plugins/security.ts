import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'

const USER_ID = /^[A-Za-z0-9_-]{1,64}$/

/** Operators' endpoints are never rate limited: a scraper or a probe must always get through. */
function exempt(request: FastifyRequest): boolean {
  const url = request.routeOptions.url ?? ''
  return url === '/metrics' || url.startsWith('/health')
}

function checkoutQuery(request: FastifyRequest): { user: string | null; item: number | null } {
  const q = (request.query ?? {}) as Record<string, unknown>
  const user = typeof q.user_id === 'string' && USER_ID.test(q.user_id) ? q.user_id : null
  const item = Number(q.id)
  return { user, item: Number.isSafeInteger(item) && item > 0 && item <= 2_147_483_647 ? item : null }
}

/**
 * Security headers on every response, and abuse limits counted in Redis (shared by every
 * instance): requests per client IP on every buyer route, and checkouts per user. A limited
 * request answers 429 `rate_limited` with Retry-After; a limited checkout is an attempt like
 * any other: counted and persisted. When Redis cannot count, requests go through (and meet
 * the outage on their own route).
 */
export default fp(
  async function securityPlugin(fastify) {
    const { config, meters, sale } = fastify
    const { RATE_LIMIT_IP_MAX, RATE_LIMIT_USER_MAX, RATE_LIMIT_WINDOW_MS, REDIS_KEY_PREFIX } = config

    // A JSON API: no page to frame or script, so the strictest policy costs nothing.
    await fastify.register(helmet, {
      global: true,
      contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    })

    await fastify.register(rateLimit, {
      global: RATE_LIMIT_IP_MAX > 0,
      max: Math.max(RATE_LIMIT_IP_MAX, 1),
      timeWindow: RATE_LIMIT_WINDOW_MS,
      redis: fastify.redis,
      nameSpace: `${REDIS_KEY_PREFIX}:ratelimit:`,
      skipOnError: true,
      allowList: (request) => exempt(request),
      errorResponseBuilder(request) {
        if (request.routeOptions.url === '/checkout') {
          const { user, item } = checkoutQuery(request)
          sale.attempts.record(sale.catalog.current()?.id ?? null, user, item, 'rate_limited')
          meters.checkout.rate_limited.inc()
        }
        // Answered by the app's error handler as 429 rate_limited, keeping the limiter's Retry-After.
        return Object.assign(new Error('rate limited'), { statusCode: 429 })
      },
    })

    if (RATE_LIMIT_USER_MAX > 0) {
      const perUser = fastify.rateLimit({
        max: RATE_LIMIT_USER_MAX,
        timeWindow: RATE_LIMIT_WINDOW_MS,
        // User ids and IP addresses cannot collide: the prefix is neither.
        keyGenerator: (request) => `user:${checkoutQuery(request).user}`,
      })
      fastify.addHook('onRequest', async (request, reply) => {
        if (request.routeOptions.url !== '/checkout' || checkoutQuery(request).user === null) return
        await perUser.call(fastify, request, reply)
      })
    }
  },
  { name: 'security', dependencies: ['config', 'metrics', 'redis', 'sale'], fastify: '5.x' },
)
