import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import type { FastifyRequest } from 'fastify'
import { routeRateKeyPrefix } from '../../sale/keys.ts'

/**
 * Operators' endpoints are never rate limited: a scraper or a probe must always get through.
 * Checkout is limited too, per address and per user, but by the checkout script itself, in the
 * same round trip as the decision (see lua/checkout.lua).
 */
function exempt (request: FastifyRequest): boolean {
  const url = request.routeOptions.url ?? ''
  return url === '/metrics' || url.startsWith('/health') || url === '/checkout'
}

/** A JSON API: no page to frame or script, so the strictest policy costs nothing. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"

/**
 * Security headers on every response, and abuse limits counted in Redis (shared by every
 * instance): requests per client address on the buyer routes (checkout counts its own, per
 * address and per user, in its script). A limited request answers 429 `rate_limited` with
 * Retry-After. When Redis cannot count, requests go through (and meet the outage on their own
 * route).
 */
export default fp(
  async function securityPlugin (fastify) {
    const { RATE_LIMIT_IP_MAX, RATE_LIMIT_WINDOW_MS, REDIS_KEY_PREFIX } = fastify.config

    // helmet's own CSP builds the header from its directives on every response; this one is fixed.
    await fastify.register(helmet, { global: true, contentSecurityPolicy: false })
    fastify.addHook('onRequest', async (_request, reply) => {
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY)
    })

    await fastify.register(rateLimit, {
      global: RATE_LIMIT_IP_MAX > 0,
      max: Math.max(RATE_LIMIT_IP_MAX, 1),
      timeWindow: RATE_LIMIT_WINDOW_MS,
      redis: fastify.redis,
      nameSpace: routeRateKeyPrefix(REDIS_KEY_PREFIX),
      skipOnError: true,
      allowList: (request) => exempt(request),
      // Answered by the app's error handler as 429 rate_limited, keeping the limiter's Retry-After.
      errorResponseBuilder: () => Object.assign(new Error('rate limited'), { statusCode: 429 }),
    })
  },
  { name: 'security', dependencies: ['config', 'redis'], fastify: '5.x' }
)
