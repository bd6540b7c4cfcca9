import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { createSale } from '../src/operator-client.ts'
import { ROOT } from '../src/paths.ts'
import { createScratchDatabase, scratchServers, uniqueName } from '../src/scratch-servers.ts'
import { between, scrape } from './breakdown.ts'
import { arrivals, client, hammer, inParallel, listenOverflows, type Client } from './load.ts'
import { startChild, type Child } from './processes.ts'

/**
 * `npm run bench`: one run, its own database and key prefix, the service and a bare Fastify
 * baseline each in a child process. Prints one JSON line on stdout; progress goes to stderr.
 */
const RESULTS = join(ROOT, 'bench', 'results')
const env = process.env
const { redisUrl, postgresAdminUrl } = scratchServers(env)
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 100)
const DURATION = Number(env.BENCH_DURATION ?? 10)
const PURCHASES = Number(env.BENCH_PURCHASES ?? 20_000)
const SELLOUT_ITEMS = 10_000
const SELLOUT_CONNECTIONS = Number(env.BENCH_SELLOUT_CONNECTIONS ?? 100)
const BURST_RATE = Number(env.BENCH_BURST_RATE ?? 2_000)
const BURST_SECONDS = Number(env.BENCH_BURST_SECONDS ?? 5)
const WARMUP = 2
const ADMIN_TOKEN = `bench-${uniqueName('token')}`
const TARGETS = { checkout_vs_baseline: 0.7, purchase_p99_ms: 15, sellout_seconds: 3 }

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`)

async function main () {
  mkdirSync(RESULTS, { recursive: true })
  const baseline = await measureBaseline()
  log(`baseline ${baseline.rps} req/s, p99 ${baseline.p99_ms} ms`)

  const db = await createScratchDatabase(postgresAdminUrl, { prefix: 'flashsale_bench' })
  const prefix = uniqueName('bench').replace(/_/g, '-')
  const profile = env.BENCH_CPU_PROF === '1'
  let service: Child | undefined
  try {
    service = await startChild('service', join(ROOT, 'bench', 'service.ts'), {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl,
      REDLOCK_REDIS_URLS: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      ADMIN_TOKEN,
      SALE_SCHEDULE: 'off',
      LOG_LEVEL: 'warn',
      // Every request comes from one address: the per-IP limit stays on (its cost is measured)
      // but high enough never to answer 429. Buyers are distinct, so the per-user limit holds.
      RATE_LIMIT_IP_MAX: '10000000',
    }, profile ? ['--cpu-prof', '--cpu-prof-dir', join(RESULTS, 'profiles')] : [])
    const api = client(service.url, Math.max(CONNECTIONS, SELLOUT_CONNECTIONS))
    try {
      const result = await measureService(service, api, db.url)
      const line = {
        ...result,
        baseline_rps: baseline.rps,
        baseline_p99_ms: baseline.p99_ms,
        checkout_vs_baseline: round(result.checkout_rps / baseline.rps, 3),
        targets: TARGETS,
        targets_met: {
          checkout_vs_baseline: result.checkout_rps / baseline.rps >= TARGETS.checkout_vs_baseline,
          purchase_p99_ms: result.purchase_p99_ms <= TARGETS.purchase_p99_ms,
          sellout_seconds: result.sellout_seconds <= TARGETS.sellout_seconds && result.oversold === 0,
        },
        connections: CONNECTIONS,
        duration_s: DURATION,
        node: process.version,
        cpus: cpus().length,
        cpu_model: cpus()[0]?.model ?? 'unknown',
      }
      const json = JSON.stringify(line)
      writeFileSync(join(RESULTS, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), `${json}\n`)
      process.stdout.write(`${json}\n`)
    } finally {
      await api.close()
    }
  } finally {
    const code = await service?.stop()
    if (code !== undefined && code !== 0) log(`service exited with ${code}`)
    await db.drop()
    await dropKeys(prefix)
  }
}

async function measureBaseline () {
  const child = await startChild('baseline', join(ROOT, 'bench', 'baseline-server.ts'), {})
  try {
    const path = (i: number) => `/checkout?user_id=b${i}&id=${(i % SELLOUT_ITEMS) + 1}`
    await hammer(child.url, path, { connections: CONNECTIONS, duration: WARMUP })
    return await hammer(child.url, path, { connections: CONNECTIONS, duration: DURATION })
  } finally {
    await child.stop()
  }
}

async function measureService (service: Child, api: Client, databaseUrl: string) {
  // Plenty of stock and no effective user limit: every checkout takes the success path.
  const big = await createSale(api.send, ADMIN_TOKEN, { items: SELLOUT_ITEMS, stock_per_item: 1_000, per_user_limit: 1_000_000, reservation_ttl_seconds: 3_600 })
  const checkoutPath = (i: number) => `/checkout?user_id=c${i}&id=${(i % SELLOUT_ITEMS) + 1}`
  await hammer(service.url, (i) => checkoutPath(i + 10_000_000), { connections: CONNECTIONS, duration: WARMUP })
  const beforeCheckout = await scrape(api.send)
  const checkout = await hammer(service.url, checkoutPath, { connections: CONNECTIONS, duration: DURATION })
  const checkoutBreakdown = between(beforeCheckout, await scrape(api.send))
  log(`checkout ${checkout.rps} req/s, p50 ${checkout.p50_ms} ms, p99 ${checkout.p99_ms} ms, non-2xx ${checkout.non2xx}`)

  const warm = 2_000
  const codes = await reserve(api, PURCHASES + warm)
  await hammer(service.url, (i) => `/purchase?code=${codes[Math.min(i, warm - 1)]}`, { connections: CONNECTIONS, amount: warm })
  const paid = codes.slice(warm)
  const beforePurchase = await scrape(api.send)
  const purchase = await hammer(service.url, (i) => `/purchase?code=${paid[Math.min(i, paid.length - 1)]}`, {
    connections: CONNECTIONS, amount: paid.length,
  })
  const purchaseBreakdown = between(beforePurchase, await scrape(api.send))
  log(`purchase ${purchase.rps} req/s, p50 ${purchase.p50_ms} ms, p99 ${purchase.p99_ms} ms, non-2xx ${purchase.non2xx}`)

  // Clients that open a connection per request, at a burst: the listen queue must hold them.
  const overflowsBefore = listenOverflows()
  const burst = await arrivals(service.url, (i) => `/checkout?user_id=k${i}&id=${(i % SELLOUT_ITEMS) + 1}`, {
    rate: BURST_RATE, seconds: BURST_SECONDS, newConnection: true,
  })
  const overflows = listenOverflows() - overflowsBefore
  log(`burst of new connections at ${BURST_RATE}/s: p99 ${burst.p99_ms} ms, max ${burst.max_ms} ms, ${JSON.stringify(burst.statuses)}, listen overflows ${overflows}`)

  const sellout = await sellOut(api)
  const oversold = await oversoldInPostgres(databaseUrl, sellout.saleId)
  log(`sell-out of ${SELLOUT_ITEMS} in ${sellout.seconds} s; ${sellout.failures} failed calls; oversold ${oversold}`)
  return {
    checkout_rps: checkout.rps,
    checkout_p50_ms: checkout.p50_ms,
    checkout_p99_ms: checkout.p99_ms,
    checkout_non2xx: checkout.non2xx,
    purchase_rps: purchase.rps,
    purchase_p50_ms: purchase.p50_ms,
    purchase_p99_ms: purchase.p99_ms,
    purchase_non2xx: purchase.non2xx,
    burst_rate: BURST_RATE,
    burst_p99_ms: burst.p99_ms,
    burst_max_ms: burst.max_ms,
    burst_statuses: burst.statuses,
    burst_listen_overflows: overflows,
    sellout_seconds: sellout.seconds,
    sellout_sold: sellout.sold,
    sellout_failures: sellout.failures,
    sellout_after_status: sellout.afterStatus,
    oversold,
    rss_mb: service.rssMb(),
    bench_sale_ids: [big, sellout.saleId],
    checkout_breakdown: checkoutBreakdown,
    purchase_breakdown: purchaseBreakdown,
  }
}

/** Reservations made ahead of the purchase run, one per distinct buyer. */
async function reserve (api: Client, n: number): Promise<string[]> {
  const codes: string[] = new Array(n)
  await inParallel(n, CONNECTIONS, async (i) => {
    const res = await api.post(`/checkout?user_id=p${i}&id=${(i % SELLOUT_ITEMS) + 1}`)
    if (res.status !== 200) throw new Error(`reservation ${i} failed: ${res.status} ${JSON.stringify(res.body)}`)
    codes[i] = res.body.code
  })
  return codes
}

/** 10,000 one-unit items, each checked out then purchased by a buyer of its own. */
async function sellOut (api: Client) {
  const saleId = await createSale(api.send, ADMIN_TOKEN, { items: SELLOUT_ITEMS, stock_per_item: 1, per_user_limit: 10 })
  let failures = 0
  const started = performance.now()
  await inParallel(SELLOUT_ITEMS, SELLOUT_CONNECTIONS, async (i) => {
    const reserved = await api.post(`/checkout?user_id=s${i}&id=${i + 1}`)
    if (reserved.status !== 200) {
      failures++
      return
    }
    const bought = await api.post(`/purchase?code=${reserved.body.code}`)
    if (bought.status !== 200) failures++
  })
  const seconds = round((performance.now() - started) / 1000, 3)
  const after = await api.post('/checkout?user_id=late&id=1')
  const sale = await api.get('/sale')
  return { saleId, seconds, failures, sold: sale.body.units_sold as number, afterStatus: `${after.status} ${after.body.error ?? ''}`.trim() }
}

/** Units sold beyond an item's stock, counted from the purchases table itself. */
async function oversoldInPostgres (url: string, saleId: number): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql<{ oversold: number }[]>`
      SELECT coalesce(sum(greatest(p.n - i.stock, 0)), 0)::int AS oversold
      FROM (SELECT item_id, count(*)::int AS n FROM purchases WHERE sale_id = ${saleId} GROUP BY item_id) p
      LEFT JOIN items i ON i.sale_id = ${saleId} AND i.id = p.item_id`
    return row!.oversold
  } finally {
    await sql.end()
  }
}

async function dropKeys (prefix: string) {
  const redis = new Redis(redisUrl)
  try {
    const stream = redis.scanStream({ match: `${prefix}:*`, count: 1_000 })
    for await (const keys of stream) if ((keys as string[]).length) await redis.unlink(...(keys as string[]))
  } finally {
    await redis.quit()
  }
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits

main().catch((err) => {
  log(`failed: ${(err as Error).stack ?? err}`)
  process.exitCode = 1
})
