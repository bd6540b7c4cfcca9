import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import app from './app.ts'
import { clientErrorHandler, frameworkErrors } from './framework-errors.ts'
import { tracesEndpoint, type Config } from './config.ts'
import { onShutdownSignals } from './shutdown-signals.ts'
import { stdoutLog } from './stdout-log.ts'

/** Fastify options that belong to the process, not the app: logging, timeouts, limits. */
export function serverOptions (config: Config): FastifyServerOptions {
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: ['req.headers.authorization', 'req.headers.cookie'],
      stream: stdoutLog(),
    },
    // Per-request logs only at debug and below: nothing per request on the hot path otherwise.
    logController: new LogController({ disableRequestLogging: config.LOG_LEVEL !== 'debug' && config.LOG_LEVEL !== 'trace' }),
    // The rate limit per address and the logs see request.ip: the client's, behind trusted proxies.
    trustProxy: config.TRUST_PROXY,
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

/**
 * Builds the app without listening: what tests use, and what start() listens with. With an OTLP
 * endpoint configured, tracing is loaded first (and only then) and every log line of a traced
 * request carries its trace_id and span_id.
 */
export async function build (config: Config, options: FastifyServerOptions = serverOptions(config)): Promise<FastifyInstance> {
  const endpoint = tracesEndpoint(config)
  const tracing = endpoint ? await import('./tracing.ts').then((t) => t.startTracing(config, endpoint)) : undefined
  const logged = tracing ? (await import('./tracing.ts')).withLogIds(options, tracing) : options
  const fastify = Fastify(logged).withTypeProvider<TypeBoxTypeProvider>()
  await fastify.register(app, { config, tracing })
  return fastify
}

export interface ServeOptions {
  /** Runs once the app is closed (requests answered, attempt log drained, clients closed). */
  afterClose?: () => Promise<void>
  /** false when the caller listens to the shutdown signals itself and calls shutdown(). */
  handleSignals?: boolean
}

export interface Serving {
  fastify: FastifyInstance
  /** Starts the graceful shutdown; later calls do nothing. */
  shutdown(reason: string): void
}

/**
 * Listens, and on shutdown stops accepting, lets in-flight requests finish, drains the attempt
 * log, closes every client, then runs afterClose, all within SHUTDOWN_GRACE_MS; past that it
 * exits anyway. The process then exits by itself, with 0 when everything closed.
 */
export async function serve (config: Config, options: ServeOptions = {}): Promise<Serving> {
  const fastify = await build(config)
  let closing = false
  const shutdown = (reason: string) => {
    // Under npm a terminal's Ctrl-C arrives twice (from the terminal, and forwarded by npm):
    // the second must not cut the drain short.
    if (closing) return
    closing = true
    fastify.log.info({ signal: reason }, 'shutting down')
    const force = setTimeout(() => {
      fastify.log.error({ grace_ms: config.SHUTDOWN_GRACE_MS }, 'shutdown grace period over; exiting')
      process.exit(1)
    }, config.SHUTDOWN_GRACE_MS)
    force.unref()
    // close() waits for every connection, and keep-alive clients never hang up on their own:
    // close each one as soon as its in-flight request is answered.
    const idle = setInterval(() => fastify.server.closeIdleConnections(), 50)
    idle.unref()
    void (async () => {
      let clean = true
      try {
        await fastify.close()
      } catch (err) {
        clean = false
        fastify.log.error({ err }, 'error while shutting down')
      } finally {
        clearInterval(idle)
      }
      // Even after a failed close: what the service started must not outlive it.
      await options.afterClose?.().catch((err) => {
        clean = false
        fastify.log.error({ err }, 'error while stopping local services')
      })
      if (clean) fastify.log.info('shut down cleanly')
      else process.exitCode = 1
    })()
  }
  if (options.handleSignals ?? true) onShutdownSignals(shutdown)
  await fastify.listen({ port: config.PORT, host: config.HOST, backlog: config.LISTEN_BACKLOG })
  return { fastify, shutdown }
}
