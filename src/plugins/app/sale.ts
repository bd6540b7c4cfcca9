import fp from 'fastify-plugin'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { AttemptLog } from '../../sale/attempt-log.ts'
import client from '@platformatic/prom-client'
import { SaleCatalog, type SaleProgress } from '../../sale/catalog.ts'
import type { SaleContext } from '../../sale/context.ts'
import { Purchases } from '../../sale/purchases.ts'
import { Reservations } from '../../sale/reservations.ts'
import { Ticker } from '../../sale/ticker.ts'
import { saleScripts } from '../../sale/scripts.ts'

export interface SaleDomain {
  catalog: SaleCatalog
  reservations: Reservations
  purchases: Purchases
  attempts: AttemptLog
  /** Runs one pass of each background task now: refresh, sweep (and settle), drain. */
  tick(): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    sale: SaleDomain
  }
}

/** The current sale's progress and the attempt log's backlog, read at each scrape. */
function saleGauges (registry: client.Registry, catalog: SaleCatalog, attempts: AttemptLog) {
  const registers = [registry]
  // The registry collects every metric at once: sold and reserved wait for the read total starts.
  let read: Promise<SaleProgress | undefined> | undefined
  const gauge = (name: string, help: string, value: (p: SaleProgress) => number, first = false) => new client.Gauge({
    name,
    help,
    registers,
    async collect () {
      if (first) {
        const sale = catalog.current()
        // A failed read (counted in flashsale_redis_errors_total) keeps the last values and the scrape.
        read = sale ? catalog.progress(sale).catch(() => undefined) : Promise.resolve({ total: 0, sold: 0, reserved: 0, available: 0 })
      }
      const progress = await read
      if (progress) this.set(value(progress))
    },
  })
  // Registered first: its scrape reads the sale once for all three.
  gauge('flashsale_sale_units_total', 'Units on sale in the current sale.', (p) => p.total, true)
  gauge('flashsale_sale_units_sold', 'Units sold in the current sale.', (p) => p.sold)
  gauge('flashsale_sale_units_reserved', 'Units reserved, not yet bought or expired.', (p) => p.reserved)
  new client.Gauge({
    name: 'flashsale_sale_active',
    help: '1 while a sale is running.',
    registers,
    collect () {
      this.set(catalog.current() ? 1 : 0)
    },
  })
  new client.Gauge({
    name: 'flashsale_attempt_log_backlog',
    help: 'Checkout attempts recorded but not yet in Postgres.',
    registers,
    async collect () {
      this.set(await attempts.backlog().catch(() => attempts.buffered))
    },
  })
}

/** How often the attempt log drains when idle; a busy drain loops until it is empty. */
const DRAIN_INTERVAL_MS = 100

/** What the domain needs from the app, from the plugins' decorations. */
function saleContext (fastify: FastifyInstance): SaleContext {
  const { config } = fastify
  return {
    config,
    redis: fastify.redis,
    scripts: saleScripts(fastify.redis, { replicas: config.REDIS_WAIT_REPLICAS, timeoutMs: config.REDIS_WAIT_TIMEOUT_MS }),
    sql: fastify.sql,
    locks: fastify.locks,
    meters: fastify.saleMeters,
    log: fastify.log.child({ component: 'sale' }),
  }
}

/** A failure of a loop that retries by itself: one warning per 5 s at most. */
function throttledWarning (log: FastifyBaseLogger, what: string) {
  let last = 0
  return (err: unknown) => {
    if (Date.now() - last < 5_000) return
    last = Date.now()
    log.warn({ err }, `${what} failed; will retry`)
  }
}

/** The background loops: catalog refresh (and schedule), reservation sweep (and settle), attempt-log drain. */
function saleTickers (ctx: SaleContext, { catalog, reservations, purchases, attempts }: Omit<SaleDomain, 'tick'>) {
  const sweep = async () => {
    const { stuck } = await reservations.sweep()
    for (const { sale, code } of stuck) await purchases.settleStuck(sale, code)
  }
  const drain = async () => {
    await attempts.drain()
  }
  const { SALE_REFRESH_MS, SWEEP_INTERVAL_MS } = ctx.config
  return [
    new Ticker(SALE_REFRESH_MS, () => catalog.refresh(), throttledWarning(ctx.log, 'sale refresh')),
    new Ticker(SWEEP_INTERVAL_MS, sweep, throttledWarning(ctx.log, 'reservation sweep')),
    new Ticker(DRAIN_INTERVAL_MS, drain, throttledWarning(ctx.log, 'attempt log drain')),
  ] as const
}

/**
 * The sale domain and its background work: the catalog refresh (and hourly schedule), the
 * reservation sweeper, and the attempt-log drain. Every instance runs all three; each is safe
 * to run concurrently with other instances. On close the loops stop and the attempt log is
 * drained one last time before the clients close.
 */
export default fp(
  async function salePlugin (fastify) {
    const ctx = saleContext(fastify)
    const catalog = new SaleCatalog(ctx)
    const attempts = new AttemptLog(ctx, catalog)
    const reservations = new Reservations(ctx, catalog, attempts)
    const purchases = new Purchases(ctx, catalog)

    // Start-up fails loudly when the catalog cannot be read or loaded.
    await catalog.refresh()

    const tickers = saleTickers(ctx, { catalog, reservations, purchases, attempts })
    const [refresher, sweeper, drainer] = tickers
    saleGauges(fastify.meters.registry, catalog, attempts)

    fastify.decorate('sale', {
      catalog,
      reservations,
      purchases,
      attempts,
      async tick () {
        await refresher.runNow()
        await sweeper.runNow()
        await drainer.runNow()
      },
    } satisfies SaleDomain)

    fastify.addHook('onReady', async () => {
      for (const t of tickers) t.start()
    })
    fastify.addHook('onClose', async () => {
      await Promise.all(tickers.map((t) => t.stop()))
      const left = await attempts.drain().catch((err) => {
        ctx.log.error({ err, buffered: attempts.buffered }, 'attempt log could not be drained at close')
        return 0
      })
      ctx.log.info({ persisted: left }, 'attempt log drained at close')
    })
  },
  { name: 'sale', dependencies: ['config', 'metrics', 'sale-meters', 'redis', 'postgres', 'locks'], fastify: '5.x' }
)
