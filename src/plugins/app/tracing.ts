import fp from 'fastify-plugin'
import { context, diag, DiagLogLevel, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link, type Span } from '@opentelemetry/api'
import client from '@platformatic/prom-client'
import { EXPORT_TIMEOUT_MS, type Tracing } from '../../tracing.ts'
import type { Locks, LockType } from '../../sale/locks.ts'
import type { Spans } from '../../sale/spans.ts'

/** How long closing waits for the last spans to be exported: an export's own timeout, and a little. */
const SHUTDOWN_EXPORT_MS = EXPORT_TIMEOUT_MS + 500

/**
 * Tracing's two plugins (loaded only when tracing is on). `requestTracing` opens a span per
 * request, parented to the incoming `traceparent`, before any other hook runs; it exports what
 * is left when the app closes (its onClose runs last). `stepTracing` puts the service's own
 * steps in the trace, on the seams every call already passes through: each Redis script or
 * command and each Postgres query by its metric name, the lock (wait and hold), the commit
 * batch and the attempt-log drain; and it gives the route histogram its exemplars.
 */
export function requestTracing (tracing: Tracing) {
  return fp(async function requestTracingPlugin (fastify) {
    await fastify.register(tracing.requests.plugin())
    const log = tracing.requestLog
    if (log?.logsRequests) {
      fastify.addHook('onRequest', (request, reply, done) => {
        log.arrived(request, reply)
        done()
      })
    }
    // OpenTelemetry reports its own trouble (an export the receiver refused or never got) on its
    // diagnostic channel, silent unless a logger is set: at most a line a minute of it here.
    const otelLog = fastify.log.child({ component: 'tracing' })
    let last = 0
    const warn = (message: string, ...args: unknown[]) => {
      if (Date.now() - last < 60_000) return
      last = Date.now()
      otelLog.warn({ detail: args.map(String) }, `tracing: ${message}`)
    }
    const quiet = () => {}
    diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN)
    // The last spans get a few seconds to leave, not the shutdown's whole grace period: an
    // unreachable receiver must not hold the process past it.
    fastify.addHook('onClose', async () => {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<string>((resolve) => { timer = setTimeout(resolve, SHUTDOWN_EXPORT_MS, 'timed out') })
      const outcome = await Promise.race([tracing.shutdown().then(() => undefined, (err) => String(err)), late])
      clearTimeout(timer)
      if (outcome) otelLog.warn({ detail: outcome }, 'tracing: the last spans could not be exported')
      diag.disable()
    })
  }, { name: 'request-tracing', fastify: '5.x' })
}

/**
 * Whether a step gets a span: inside a trace that is recorded, or outside any trace (the sampler
 * decides). A step of a request left out by sampling costs nothing more than this check.
 */
function recorded (): boolean {
  const active = trace.getActiveSpan()
  return active === undefined || active.isRecording()
}

/** Runs `run` as `span`, which ends with its outcome. */
async function within<T> (span: Span, run: () => Promise<T>, parent: Context = context.active()): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), run)
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message })
    throw err
  } finally {
    span.end()
  }
}

type Timer = (labels?: client.LabelValues<string>, exemplar?: client.LabelValues<string>) => unknown
interface Timed { name: string, help: string, labelNames: string[], upperBounds: number[], startTimer: Timer }

/**
 * Gives a histogram timed with startTimer (the route histogram: fastify-metrics starts each
 * request's timer in its onRequest hook, inside the request's span) the trace id of each
 * observation as its bucket's exemplar. prom-client keeps exemplars only on a histogram made
 * for them, outside any text-format registry: an identical one takes the original's place, and
 * the original's timers become its.
 */
function exemplify (registry: client.Registry, name: string, tracing: Tracing): void {
  const original = registry.getSingleMetric(name) as unknown as Timed | undefined
  if (!original) return
  const { help, labelNames, upperBounds } = original
  const histogram = new client.Histogram({ name, help, labelNames, buckets: [...upperBounds], enableExemplars: true, registers: [] })
  registry.removeSingleMetric(name)
  registry.registerMetric(histogram)
  const startTimer = (histogram.startTimer as Timer).bind(histogram)
  original.startTimer = (labels, exemplar) => startTimer(labels, exemplar ?? tracing.exemplar())
}

/**
 * The lock's span covers the wait (its Redis calls are in it) and the hold, which starts at the
 * event `lock acquired`; a lock a script takes alike. Not the resource: it names the purchase code.
 */
function traceLocks (locks: Locks, start: (name: string, attributes: Attributes) => Span): void {
  const { withLock, withScriptLock } = locks
  const acquired = (span: Span, asked: number) => {
    span.addEvent('lock acquired')
    span.setAttribute('flashsale.lock.wait_ms', performance.now() - asked)
  }
  locks.withLock = (type: LockType, resource: string, routine) => {
    if (!recorded()) return withLock(type, resource, routine)
    const span = start(`lock ${type}`, { 'flashsale.lock.type': type })
    const asked = performance.now()
    return within(span, () => withLock(type, resource, (lease) => {
      acquired(span, asked)
      return routine(lease)
    }))
  }
  locks.withScriptLock = (type, resource, take, routine, unlocked) => {
    if (!recorded()) return withScriptLock(type, resource, take, routine, unlocked)
    const span = start(`lock ${type}`, { 'flashsale.lock.type': type })
    const asked = performance.now()
    return within(span, () => withScriptLock(type, resource, take, (answer, held) => {
      acquired(span, asked)
      return routine(answer, held)
    }, unlocked))
  }
}

export function stepTracing (tracing: Tracing) {
  return fp(async function stepTracingPlugin (fastify) {
    const { tracer } = tracing
    const start = (name: string, attributes: Attributes, kind = SpanKind.INTERNAL) => tracer.startSpan(name, { kind, attributes })

    const spans: Spans = {
      span: (name, run) => recorded() ? within(start(name, {}), run) : run(),
      origin: () => context.active(),
      // In the trace of the first request of the batch that is recorded, linked from the others
      // recorded; without any, no span, unless no request asked (then the sampler decides).
      batch: (name, origins, run) => {
        const traced = (origins as Context[]).filter((origin) => trace.getSpan(origin)?.isRecording())
        const asked = origins.some((origin) => trace.getSpan(origin as Context) !== undefined)
        if (traced.length === 0 && asked) return run()
        const [parent = context.active(), ...others] = traced
        const links: Link[] = others.map((origin) => ({ context: trace.getSpan(origin)!.spanContext() }))
        const span = tracer.startSpan(name, { attributes: { 'flashsale.batch.size': origins.length }, links }, parent)
        return within(span, run, parent)
      },
    }
    const meters = fastify.saleMeters
    const { redis, db } = meters
    Object.assign(meters, spans satisfies Spans, {
      redis: (name, run) => recorded()
        ? within(start(`redis ${name}`, { 'db.system.name': 'redis', 'db.operation.name': name }), () => redis(name, run))
        : redis(name, run),
      db: (name, run) => recorded()
        ? within(start(`postgres ${name}`, { 'db.system.name': 'postgresql', 'db.operation.name': name }, SpanKind.CLIENT), () => db(name, run))
        : db(name, run),
    } satisfies Pick<typeof meters, 'redis' | 'db'>)

    traceLocks(fastify.locks, (name, attributes) => start(name, attributes))

    exemplify(fastify.meters.registry, 'http_request_duration_seconds', tracing)
  }, { name: 'step-tracing', dependencies: ['metrics', 'sale-meters', 'locks'], fastify: '5.x' })
}
