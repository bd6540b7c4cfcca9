import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import app from './app.js'
import { clientErrorHandler, frameworkErrors } from './framework-errors.js'
import type { Config } from './config.js'

/** Fastify options that belong to the process, not the app: logging, timeouts, limits. */
export function serverOptions(config: Config): FastifyServerOptions {
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    },
    // Per-request logs only at debug and below: nothing per request on the hot path otherwise.
    logController: new LogController({ disableRequestLogging: config.LOG_LEVEL !== 'debug' && config.LOG_LEVEL !== 'trace' }),
    bodyLimit: 16 * 1024,
    connectionTimeout: 30_000,
    keepAliveTimeout: 72_000,
    requestTimeout: 15_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 200 },
    frameworkErrors,
    clientErrorHandler,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  }
}

/** Builds the app without listening: what tests use, and what start() listens with. */
export async function build(config: Config, options: FastifyServerOptions = serverOptions(config)): Promise<FastifyInstance> {
  const fastify = Fastify(options).withTypeProvider<TypeBoxTypeProvider>()
  await fastify.register(app, { config })
  return fastify
}

/**
 * Listens, and on SIGTERM or SIGINT stops accepting, lets in-flight requests finish, drains the
 * attempt log and closes every client, all within SHUTDOWN_GRACE_MS; past that it exits anyway.
 */
export async function serve(config: Config, onClose?: () => Promise<void>): Promise<FastifyInstance> {
  const fastify = await build(config)
  if (onClose) fastify.addHook('onClose', onClose)
  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    fastify.log.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      fastify.log.error({ grace_ms: config.SHUTDOWN_GRACE_MS }, 'shutdown grace period over; exiting')
      process.exit(1)
    }, config.SHUTDOWN_GRACE_MS)
    force.unref()
    // close() waits for every connection, and keep-alive clients never hang up on their own:
    // close each one as soon as its in-flight request is answered.
    const idle = setInterval(() => fastify.server.closeIdleConnections(), 50)
    idle.unref()
    fastify.close().finally(() => clearInterval(idle)).then(
      () => fastify.log.info('shut down cleanly'),
      (err) => {
        fastify.log.error({ err }, 'error while shutting down')
        process.exitCode = 1
      },
    )
  }
  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
  await fastify.listen({ port: config.PORT, host: config.HOST, backlog: config.LISTEN_BACKLOG })
  return fastify
}
