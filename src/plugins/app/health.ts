import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import client from '@platformatic/prom-client'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { getHeapStatistics } from 'node:v8'
import { assertServing } from '../external/redis.ts'

/**
 * Lag percentiles and utilization cover the last WINDOW_MS to 2 * WINDOW_MS: two delay
 * monitors, each reset every 2 * WINDOW_MS, staggered by WINDOW_MS; the older one answers.
 */
const WINDOW_MS = 10_000
/** A dependency that does not answer a ping within this is reported down. */
export const PING_TIMEOUT_MS = 500
/**
 * Pings that found every dependency up are shared for this long, so health checks under load
 * cost nothing. A ping that found one down is shared only while it runs: the next check pings
 * again, so health turns 200 as soon as the dependency serves (a Redis back, a cluster's election
 * over), not a cache period later.
 */
export const PING_CACHE_MS = 1_000

export type DependencyName = 'redis' | 'postgres'
export interface DependencyStatus {
  status: 'up' | 'down'
  latency_ms: number
}

export interface EventLoopStats {
  lag_p50_ms: number
  lag_p99_ms: number
  lag_max_ms: number
  utilization: number
}

export interface Health {
  /** True from the moment the app starts closing: readiness fails, load balancers stop sending. */
  readonly shuttingDown: boolean
  markShuttingDown(): void
  /** Pings Redis and Postgres (a cached answer when one is fresh). */
  dependencies(): Promise<Record<DependencyName, DependencyStatus>>
  eventLoop(): EventLoopStats
}

declare module 'fastify' {
  interface FastifyInstance {
    health: Health
  }
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits

/** Event-loop delay and utilization over a rolling window, so a spike shows, then ages out. */
function rollingEventLoop () {
  const make = () => {
    const hist = monitorEventLoopDelay({ resolution: 10 })
    hist.enable()
    return { hist, since: performance.eventLoopUtilization() }
  }
  const monitors = [make(), make()]
  let older = 0
  // Every WINDOW_MS the older monitor starts afresh and the other one becomes the older.
  const timer = setInterval(() => {
    const m = monitors[older]!
    m.hist.reset()
    m.since = performance.eventLoopUtilization()
    older = 1 - older
  }, WINDOW_MS)
  timer.unref()

  return {
    stats (): EventLoopStats {
      const { hist, since } = monitors[older]!
      const ms = (ns: number) => (hist.count > 0 ? round(ns / 1e6) : 0)
      return {
        lag_p50_ms: ms(hist.percentile(50)),
        lag_p99_ms: ms(hist.percentile(99)),
        lag_max_ms: ms(hist.max),
        utilization: round(performance.eventLoopUtilization(since).utilization, 4),
      }
    },
    stop () {
      clearInterval(timer)
      for (const m of monitors) m.hist.disable()
    },
  }
}

/** What Node's default metrics lack: utilization of the event loop, and the heap's limit. */
function processGauges (registry: client.Registry) {
  let lastElu = performance.eventLoopUtilization()
  new client.Gauge({
    name: 'flashsale_event_loop_utilization',
    help: 'Event loop utilization (0-1) since the previous scrape.',
    registers: [registry],
    collect () {
      const now = performance.eventLoopUtilization()
      this.set(performance.eventLoopUtilization(now, lastElu).utilization)
      lastElu = now
    },
  })
  // Without V8's heap limit, heap use cannot be read as a share.
  new client.Gauge({
    name: 'flashsale_heap_limit_bytes',
    help: 'V8 heap size limit of the process.',
    registers: [registry],
    collect () {
      this.set(getHeapStatistics().heap_size_limit)
    },
  })
}

/** Runs `ping` with a deadline; never throws. */
async function timedPing (ping: () => Promise<unknown>): Promise<DependencyStatus> {
  const start = performance.now()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error('ping timed out')), PING_TIMEOUT_MS)
  })
  try {
    await Promise.race([ping(), deadline])
    return { status: 'up', latency_ms: round(performance.now() - start) }
  } catch {
    return { status: 'down', latency_ms: round(performance.now() - start) }
  } finally {
    clearTimeout(timer)
  }
}

/** Pings of Redis and Postgres, shared while fresh (see PING_CACHE_MS). */
function sharedPings ({ saleMeters, redis, sql }: FastifyInstance): () => Promise<Record<DependencyName, DependencyStatus>> {
  let cached: { at: number; value: Promise<Record<DependencyName, DependencyStatus>> } | undefined
  return () => {
    const now = Date.now()
    if (cached && now - cached.at <= PING_CACHE_MS) return cached.value
    const entry = {
      at: now,
      value: Promise.all([
        // A cluster answers only when its state is ok: every slot served.
        timedPing(() => saleMeters.redis('ping', () => assertServing(redis))),
        timedPing(() => saleMeters.db('ping', async () => sql`SELECT 1`)),
      ]).then(([r, p]) => {
        if (r.status === 'down' || p.status === 'down') entry.at = 0
        return { redis: r, postgres: p }
      }),
    }
    cached = entry
    return entry.value
  }
}

/**
 * Health: event-loop and dependency state for /health and readiness, and Prometheus gauges of
 * dependency reachability.
 */
export default fp(
  async function healthPlugin (fastify) {
    const { meters } = fastify
    const loop = rollingEventLoop()
    let shuttingDown = false
    const dependencies = sharedPings(fastify)

    processGauges(meters.registry)
    // Each gauge reads the shared ping itself: the registry collects all metrics at once, so a
    // gauge set by another's collect would show the previous scrape's value (none on the first).
    const registers = [meters.registry]
    new client.Gauge({
      name: 'flashsale_dependency_up',
      help: '1 when the dependency answered its last ping in time, else 0.',
      labelNames: ['dependency'],
      registers,
      async collect () {
        for (const [name, d] of Object.entries(await dependencies())) this.set({ dependency: name }, d.status === 'up' ? 1 : 0)
      },
    })
    new client.Gauge({
      name: 'flashsale_dependency_ping_seconds',
      help: 'Latency of the last dependency ping.',
      labelNames: ['dependency'],
      registers,
      async collect () {
        for (const [name, d] of Object.entries(await dependencies())) this.set({ dependency: name }, d.latency_ms / 1000)
      },
    })

    fastify.decorate('health', {
      get shuttingDown () {
        return shuttingDown
      },
      markShuttingDown () {
        shuttingDown = true
      },
      dependencies,
      eventLoop: () => loop.stats(),
    } satisfies Health)

    fastify.addHook('preClose', async () => {
      shuttingDown = true
    })
    fastify.addHook('onClose', async () => {
      loop.stop()
    })
  },
  { name: 'health', dependencies: ['config', 'metrics', 'sale-meters', 'redis', 'postgres'], fastify: '5.x' }
)
