import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'

/**
 * The headers helmet sets by default, fixed once: helmet assembles them on every response, and
 * the API has no page to frame or script, so the strictest policy costs nothing.
 */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
} as const

/**
 * Security headers on every response, and abuse limits counted in Redis (shared by every
 * instance) under `rateKeyPrefix`: requests per client address on every route that does not
 * declare `config.rateLimit: false` (probes and scrapers, which must always get through, and
 * checkout and purchase, whose scripts count the address, and checkout's the user, in the same
 * round trip as the decision). Exempt routes get no limiter hook at all, rather than one that
 * asks on every request. A limited request answers 429 `rate_limited` with Retry-After. When Redis cannot
 * count, requests go through (and meet the outage on their own route).
 */
export default fp<{ rateKeyPrefix: string }>(
  async function securityPlugin (fastify, { rateKeyPrefix }) {
    const { RATE_LIMIT_IP_MAX, RATE_LIMIT_WINDOW_MS } = fastify.config

    fastify.addHook('onRequest', async (_request, reply) => {
      reply.headers(SECURITY_HEADERS)
    })

    await fastify.register(rateLimit, {
      global: RATE_LIMIT_IP_MAX > 0,
      max: Math.max(RATE_LIMIT_IP_MAX, 1),
      timeWindow: RATE_LIMIT_WINDOW_MS,
      redis: fastify.redis,
      nameSpace: rateKeyPrefix,
      skipOnError: true,
      // Answered by the app's error handler as 429 rate_limited, keeping the limiter's Retry-After.
      errorResponseBuilder: () => Object.assign(new Error('rate limited'), { statusCode: 429 }),
    })
  },
  { name: 'security', dependencies: ['config', 'redis'], fastify: '5.x' }
)
