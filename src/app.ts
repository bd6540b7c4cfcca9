import type { FastifyError, FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from './config.ts'
import type { Tracing } from './tracing.ts'
import { ApiError, isDependencyError } from './errors.ts'
import { ErrorBody, sendError } from './schemas/common.ts'
import { frameworkError } from './framework-errors.ts'
import configPlugin from './plugins/app/config.ts'
import metricsPlugin from './plugins/external/metrics.ts'
import saleMetersPlugin from './plugins/app/sale-meters.ts'
import redisPlugin from './plugins/external/redis.ts'
import postgresPlugin from './plugins/external/postgres.ts'
import redlockPlugin from './plugins/external/redlock.ts'
import locksPlugin from './plugins/app/locks.ts'
import salePlugin from './plugins/app/sale.ts'
import attemptRetentionPlugin from './plugins/app/attempt-retention.ts'
import healthPlugin from './plugins/app/health.ts'
import loadSheddingPlugin from './plugins/external/load-shedding.ts'
import metricsAccessPlugin from './plugins/app/metrics-access.ts'
import securityPlugin from './plugins/external/security.ts'
import operatorAuthPlugin from './plugins/app/operator-auth.ts'
import { routeRateKeyPrefix } from './sale/keys.ts'
import openapiPlugin, { docsUi } from './plugins/external/swagger.ts'
import checkoutRoutes from './routes/checkout.ts'
import purchaseRoutes from './routes/purchase.ts'
import saleRoutes from './routes/sale.ts'
import adminRoutes from './routes/admin.ts'
import healthRoutes from './routes/health.ts'
import methodNotAllowed, { routeMethods } from './routes/method-not-allowed.ts'

export interface AppOptions {
  config: Config
  /** Present when tracing is on (an OTLP endpoint is configured). */
  tracing?: Tracing
}

/**
 * The whole service as a plugin: dependencies first (each fails start-up loudly), then the
 * sale domain, then the routes. The process (logger, listen, signals) is server.ts's business.
 */
const app: FastifyPluginAsync<AppOptions> = async (fastify: FastifyInstance, { config, tracing }) => {
  // Loaded only with tracing on: otherwise no hook of it runs, no module of it is loaded.
  const traced = tracing && await import('./plugins/app/tracing.ts')
  // First, so every other hook runs inside the request's span.
  if (traced) await fastify.register(traced.requestTracing(tracing))
  fastify.addSchema(ErrorBody)

  // Every route from here on, /metrics and the docs included, answers other methods with 405.
  const methods = routeMethods(fastify)
  await fastify.register(configPlugin, { config })
  await fastify.register(openapiPlugin)
  await fastify.register(metricsAccessPlugin)
  await fastify.register(metricsPlugin)
  await fastify.register(saleMetersPlugin)
  await fastify.register(redisPlugin)
  await fastify.register(postgresPlugin)
  await fastify.register(redlockPlugin)
  await fastify.register(locksPlugin)
  if (traced) await fastify.register(traced.stepTracing(tracing))
  await fastify.register(salePlugin)
  await fastify.register(attemptRetentionPlugin)
  await fastify.register(healthPlugin)
  await fastify.register(loadSheddingPlugin)
  await fastify.register(securityPlugin, { rateKeyPrefix: routeRateKeyPrefix(config.REDIS_KEY_PREFIX) })
  await fastify.register(operatorAuthPlugin)

  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof ApiError) {
      if (err.statusCode >= 500) request.log.warn({ err }, 'request failed: dependency unavailable')
      return sendError(reply, err.code)
    }
    if (isDependencyError(err) || err.code === 'FST_ERR_HANDLER_TIMEOUT') {
      request.log.warn({ err }, 'request failed: dependency unavailable')
      return sendError(reply, 'unavailable')
    }
    if (err.validation) return sendError(reply, 'invalid_request', { message: err.message })
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // The rate limiter has set Retry-After to its window's remaining time: keep it.
      if (err.statusCode === 429) return sendError(reply, 'rate_limited', { retryAfter: Number(reply.getHeader('retry-after')) || undefined })
      const { code, message } = frameworkError(err)
      return sendError(reply, code, { message })
    }
    request.log.error({ err }, 'request failed')
    return sendError(reply, 'internal_error')
  })

  fastify.setNotFoundHandler((_request, reply) => sendError(reply, 'not_found'))

  // Before the 405 routes are collected: they are for the API's paths.
  await fastify.register(docsUi)
  await fastify.register(checkoutRoutes)
  await fastify.register(purchaseRoutes)
  await fastify.register(saleRoutes)
  await fastify.register(adminRoutes, { prefix: '/admin' })
  await fastify.register(healthRoutes)
  await fastify.register(methodNotAllowed, { methods })
}

export default fp(app, { name: 'flashsale', fastify: '5.x' })
