import { context, propagation, trace, TraceFlags, type Tracer } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler,
} from '@opentelemetry/sdk-trace'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { LogController, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import { Redis } from 'ioredis'
import { hostname } from 'node:os'
import { samplerRatio, type Config } from './config.ts'

/**
 * Tracing with OpenTelemetry, loaded only when an OTLP endpoint is configured (server.ts imports
 * this module then, and only then): spans go to the endpoint over OTLP/HTTP in batches.
 *
 * What is traced: every request (@fastify/otel, with the incoming W3C `traceparent` as parent),
 * every Redis command (the ioredis instrumentation), and the service's own steps (the tracing
 * plugin). The tracer provider is this app's; the context manager and the propagator are the
 * process's, installed once (OpenTelemetry keeps them global).
 */
export interface Tracing {
  tracer: Tracer
  /** The request spans: a Fastify plugin, registered before every other hook. */
  requests: FastifyOtelInstrumentation
  /** The active span's ids for a log line (pino's mixin); nothing outside a trace. */
  logIds(): { trace_id?: string, span_id?: string }
  /** The active span's trace id when it is sampled (so it can be looked up), as exemplar labels. */
  exemplar(): { trace_id: string } | undefined
  /** The server's request log lines, when withLogIds has put them in the request's span. */
  requestLog?: SpanLogController
  /** Exports the spans still buffered, then stops; later calls wait for the first. */
  shutdown(): Promise<void>
}

let processWide = false

/** How long one export may take, retries included, before its spans are given up. */
export const EXPORT_TIMEOUT_MS = 3_000

/**
 * Redis commands as spans, children of the active span, for as long as the returned function is
 * not called. Instrumentations usually patch modules as they are loaded, which takes a loader
 * hook for ES modules; ioredis is patched here directly instead, whatever has loaded it already.
 * A command outside a recorded trace (a request left out by sampling) is sent as it was, at the
 * cost of one check. Spans name the command only: arguments hold user ids and purchase codes.
 */
function traceRedis (provider: TracerProvider): () => void {
  const instrumentation = new IORedisInstrumentation({ enabled: false, requireParentSpan: true, dbStatementSerializer: (name) => name })
  instrumentation.setTracerProvider(provider)
  const proto = Redis.prototype as unknown as { sendCommand: (...args: unknown[]) => unknown }
  const plain = proto.sendCommand
  const patches = instrumentation.getModuleDefinitions()
  for (const m of patches) m.patch?.(Redis, undefined)
  const traced = proto.sendCommand
  proto.sendCommand = function (this: unknown, ...args: unknown[]) {
    return (trace.getActiveSpan()?.isRecording() ? traced : plain).apply(this, args)
  }
  return () => {
    proto.sendCommand = traced
    for (const m of patches) m.unpatch?.(Redis, undefined)
  }
}

/** OTEL_TRACES_SAMPLER as the specification defines each value. */
function sampler (config: Config): Sampler {
  const ratio = samplerRatio(config)
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on': return new AlwaysOnSampler()
    case 'always_off': return new AlwaysOffSampler()
    case 'traceidratio': return new TraceIdRatioBasedSampler(ratio)
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) })
    default: return new ParentBasedSampler({ root: new AlwaysOnSampler() })
  }
}

export function startTracing (config: Config, endpoint: string): Tracing {
  if (!processWide) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    propagation.setGlobalPropagator(new W3CTraceContextPropagator())
    processWide = true
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': config.OTEL_SERVICE_NAME,
      'service.instance.id': `${hostname()}-${process.pid}`,
    }),
    sampler: sampler(config),
    // Headers and compression come from the standard OTEL_EXPORTER_OTLP_* variables. The timeout
    // is the service's: an export (with its retries) that outlived it would hold the process
    // after its shutdown, past the grace period, while a receiver is down.
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: endpoint, timeoutMillis: EXPORT_TIMEOUT_MS }) })],
  })

  const untraceRedis = traceRedis(provider)

  // A span per request; not one per hook, nor one for the handler (the request's own span says
  // as much). The query string stays out of the span: it holds user ids and purchase codes,
  // which are as good as a purchase.
  const requests = new FastifyOtelInstrumentation({
    instrumentHooks: false,
    instrumentHandler: false,
    recordExceptions: false,
    requestHook: (span, request) => span.setAttribute('url.path', request.url.split('?', 1)[0]!),
  })
  requests.setTracerProvider(provider)

  let stopping: Promise<void> | undefined
  return {
    tracer: provider.getTracer('flashsale'),
    requests,
    logIds () {
      const span = trace.getActiveSpan()
      // A new object each time: pino merges the line's own fields into it.
      if (!span) return {}
      const { traceId, spanId } = span.spanContext()
      return { trace_id: traceId, span_id: spanId }
    },
    exemplar () {
      const ids = trace.getActiveSpan()?.spanContext()
      return ids && (ids.traceFlags & TraceFlags.SAMPLED) !== 0 ? { trace_id: ids.traceId } : undefined
    },
    shutdown () {
      stopping ??= (async () => {
        requests.disable()
        untraceRedis()
        await provider.shutdown()
      })()
      return stopping
    },
  }
}

/**
 * Fastify logs a request's arrival (at debug) before its first hook, so before its span opens:
 * the line waits for the request-tracing plugin's onRequest hook, inside the span.
 */
export class SpanLogController extends LogController {
  override incomingRequest (): void {}

  /** Whether there are arrival lines to write (per-request logging is on). */
  get logsRequests (): boolean {
    return this.disableRequestLogging !== true
  }

  arrived (request: FastifyRequest, reply: FastifyReply): void {
    super.incomingRequest(request, reply)
  }
}

/** The server's options with the active span's ids on every log line the logger writes. */
export function withLogIds (options: FastifyServerOptions, tracing: Tracing): FastifyServerOptions {
  const logger = options.logger
  if (typeof logger !== 'object' || logger === null) return options
  tracing.requestLog = new SpanLogController({ disableRequestLogging: options.logController?.disableRequestLogging })
  return { ...options, logController: tracing.requestLog, logger: { ...logger, mixin: () => tracing.logIds() } }
}
