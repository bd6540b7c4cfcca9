import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { ROOT } from '../src/paths.ts'
import { createScratchDatabase, scratchServers, uniqueName } from '../kit/scratch-servers.ts'
import { chart } from './chart.ts'
import { clusterRuns } from './cluster-phase.ts'
import { client, hammer, type Throughput } from './load.ts'
import { onInterrupt, startChild, type Child } from './processes.ts'
import {
  burstPhase, checkoutPhase, doubleSubmitPhase, openModelPhase, purchasePhase, selloutPhase, type PhaseSettings,
} from './service-phases.ts'

/**
 * `npm run bench`: one run on this machine, every ratio against floors measured in the same run
 * (a bare Fastify route; the same route plus one Lua call). The service runs in a child process
 * as `npm start` runs it, on a database and key prefix of its own. Prints one JSON line on
 * stdout, writes it and an SVG chart to bench/results/ (the chart also to docs/benchmark.svg);
 * progress goes to stderr.
 */
const RESULTS = join(ROOT, 'bench', 'results')
const env = process.env
const { redisUrl, postgresAdminUrl } = scratchServers(env)
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 100)
const DURATION = Number(env.BENCH_DURATION ?? 10)
const ADMIN_TOKEN = `bench-${uniqueName('token')}`
const SELLOUT_ITEMS = 10_000
/** The Node flags `npm start` (package.json) and the image (Dockerfile) run the service with. */
const START_NODE_FLAGS = ['--max-semi-space-size=8']
/** BENCH_NODE_FLAGS (space-separated) tries others, e.g. BENCH_NODE_FLAGS= for Node's defaults. */
const SERVICE_NODE_FLAGS = env.BENCH_NODE_FLAGS === undefined ? START_NODE_FLAGS : env.BENCH_NODE_FLAGS.split(' ').filter(Boolean)
const TARGETS = {
  checkout_vs_floor: 0.7,
  purchase_vs_checkout: 0.6,
  purchase_p99_ms: 30,
  sellout_seconds: 2,
  open_checkout_p99_ms: 10,
  open_purchase_p99_ms: 20,
  rss_max_mb: 200,
  double_submit_share_200: 0.99,
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`)
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits

/** A bare route (baseline or floor) in a child process, hammered like checkout. */
async function measureRoute (name: string, file: string): Promise<Throughput> {
  const child = await startChild(name, join(ROOT, 'bench', file), { REDIS_URL: redisUrl, REDIS_KEY_PREFIX: uniqueName('floor') })
  try {
    const path = (i: number) => `/checkout?user_id=b${i}&id=${(i % 10_000) + 1}`
    await hammer(child.url, path, { connections: CONNECTIONS, duration: 2 })
    const result = await hammer(child.url, path, { connections: CONNECTIONS, duration: DURATION })
    log(`${name} ${result.rps} req/s, p99 ${result.p99_ms} ms`)
    return result
  } finally {
    await child.stop()
  }
}

/** The service in a child process on a scratch database and prefix; its RSS sampled all along. */
async function withService<T> (
  name: string,
  extra: Record<string, string>,
  run: (service: Child, dbUrl: string, phasePeak: () => number) => Promise<T>
) {
  const db = await createScratchDatabase(postgresAdminUrl, { prefix: 'flashsale_bench' })
  const prefix = uniqueName('bench').replace(/_/g, '-')
  const started: { child?: Child } = {}
  const release = onInterrupt(async () => {
    await started.child?.stop()
    await Promise.allSettled([db.drop(), dropKeys(prefix)])
  })
  const profile = env.BENCH_CPU_PROF === '1' ? ['--cpu-prof', '--cpu-prof-dir', join(RESULTS, 'profiles')] : []
  const child = await startChild(name, join(ROOT, 'bench', 'service.ts'), {
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl,
    REDLOCK_REDIS_URLS: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    ADMIN_TOKEN,
    SALE_SCHEDULE: 'off',
    LOG_LEVEL: 'warn',
    // Every request comes from one address: the per-IP limit stays on (its cost is measured) but
    // high enough never to answer 429. Buyers are distinct, so the per-user limit holds.
    RATE_LIMIT_IP_MAX: '10000000',
    ...extra,
  }, [...SERVICE_NODE_FLAGS, ...profile])
  started.child = child
  let rssMax = child.rssMb()
  let phaseMax = rssMax
  const sampler = setInterval(() => {
    const now = child.rssMb()
    rssMax = Math.max(rssMax, now)
    phaseMax = Math.max(phaseMax, now)
  }, 200)
  // The peak since the last call: which phase the memory goes to.
  const phasePeak = () => {
    const peak = Math.max(phaseMax, child.rssMb())
    phaseMax = 0
    return peak
  }
  try {
    return { result: await run(child, db.url, phasePeak), rssMax: () => rssMax }
  } finally {
    clearInterval(sampler)
    const code = await child.stop()
    if (code !== 0) log(`${name} exited with ${code}`)
    await db.drop()
    await dropKeys(prefix)
    release()
  }
}

async function main () {
  mkdirSync(RESULTS, { recursive: true })
  const baseline = await measureRoute('baseline', 'baseline-server.ts')
  const floor = await measureRoute('floor', 'floor-server.ts')
  const settings = (service: Child): PhaseSettings => ({
    url: service.url,
    redisUrl,
    servicePid: service.pid,
    connections: CONNECTIONS,
    duration: DURATION,
    warmup: 2,
    purchases: Number(env.BENCH_PURCHASES ?? 20_000),
    items: SELLOUT_ITEMS,
    selloutConnections: Number(env.BENCH_SELLOUT_CONNECTIONS ?? 100),
    burst: { rate: Number(env.BENCH_BURST_RATE ?? 2_000), seconds: Number(env.BENCH_BURST_SECONDS ?? 5) },
    adminToken: ADMIN_TOKEN,
    log,
  })

  const measured = await withService('service', {}, async (service, dbUrl, phasePeak) => {
    const rss: Record<string, number> = { idle: phasePeak() }
    const s = settings(service)
    const api = client(service.url, Math.max(CONNECTIONS, s.selloutConnections, 150))
    try {
      const checkout = await checkoutPhase(s, api)
      rss.checkout = phasePeak()
      log(`checkout ${checkout.rps} req/s (${round(checkout.rps / floor.rps)} of the floor), p99 ${checkout.p99_ms} ms, ` +
        `Redis CPU ${checkout.redisCpuUs} µs each, machine CPU ${checkout.machinePercent}%, service ${checkout.servicePercent}%`)
      const purchase = await purchasePhase(s, api)
      rss.purchase = phasePeak()
      log(`purchase ${purchase.rps} req/s (${round(purchase.rps / checkout.rps)} of checkout), p99 ${purchase.p99_ms} ms, ` +
        `Redis CPU ${purchase.redisCpuUs} µs each, machine CPU ${purchase.machinePercent}%, service ${purchase.servicePercent}%`)
      const open = await openModelPhase(s, api, checkout.rps, purchase.rps)
      rss.open_model = phasePeak()
      log(`open model: checkout at ${open.checkoutRate}/s p50 ${open.checkout.p50_ms} ms, p99 ${open.checkout.p99_ms} ms (machine CPU ${open.checkout.machinePercent}%); ` +
        `purchase at ${open.purchaseRate}/s p50 ${open.purchase.p50_ms} ms, p99 ${open.purchase.p99_ms} ms (machine CPU ${open.purchase.machinePercent}%)`)
      const doubleSubmit = await doubleSubmitPhase(s, api)
      rss.double_submit = phasePeak()
      log(`double submits: ${doubleSubmit.share_200 * 100}% answered 200, ${doubleSubmit.in_progress_409} 409s`)
      const burst = await burstPhase(s)
      rss.burst = phasePeak()
      log(`burst of new connections at ${s.burst.rate}/s: p99 ${burst.p99_ms} ms, listen overflows ${burst.listenOverflows}`)
      const sellout = await selloutPhase(s, api, dbUrl)
      rss.sellout = phasePeak()
      log(`service RSS peak by phase (MB): ${Object.entries(rss).map(([phase, mb]) => `${phase} ${mb}`).join(', ')}`)
      log(`sell-out of ${s.items} in ${sellout.seconds} s; ${sellout.rows} rows in Postgres when the last purchase was answered; oversold ${sellout.oversold}`)
      return { checkout, purchase, open, doubleSubmit, burst, sellout, rss }
    } finally {
      await api.close()
    }
  })
  const quiet = await withService('service, METRICS=off', { METRICS: 'off' }, async (service) => {
    const api = client(service.url, 4)
    try {
      return await checkoutPhase(settings(service), api, 'm')
    } finally {
      await api.close()
    }
  })
  log(`checkout with METRICS=off ${quiet.result.rps} req/s`)
  const clusterSkipped = env.BENCH_CLUSTER === '0'
    ? 'BENCH_CLUSTER=0'
    : spawnSync('redis-server', ['--version']).status === 0 ? undefined : 'redis-server is not installed'
  if (clusterSkipped) log(`cluster runs skipped: ${clusterSkipped}`)
  const cluster = clusterSkipped
    ? []
    : await clusterRuns({ postgresAdminUrl, connections: CONNECTIONS, seconds: 5, nodeFlags: SERVICE_NODE_FLAGS, log })

  const { checkout, purchase, open, doubleSubmit, burst, sellout, rss } = measured.result
  const rssMax = Math.max(measured.rssMax(), quiet.rssMax())
  const line = {
    baseline_rps: baseline.rps,
    floor_rps: floor.rps,
    floor_vs_baseline: round(floor.rps / baseline.rps),
    checkout_rps: checkout.rps,
    checkout_p50_ms: checkout.p50_ms,
    checkout_p99_ms: checkout.p99_ms,
    checkout_vs_floor: round(checkout.rps / floor.rps),
    checkout_metrics_off_rps: quiet.result.rps,
    checkout_redis_cpu_us: checkout.redisCpuUs,
    checkout_machine_cpu_percent: checkout.machinePercent,
    checkout_service_cpu_percent: checkout.servicePercent,
    purchase_rps: purchase.rps,
    purchase_p50_ms: purchase.p50_ms,
    purchase_p99_ms: purchase.p99_ms,
    purchase_redis_cpu_us: purchase.redisCpuUs,
    purchase_machine_cpu_percent: purchase.machinePercent,
    purchase_service_cpu_percent: purchase.servicePercent,
    purchase_vs_checkout: round(purchase.rps / checkout.rps),
    open_checkout_rate: open.checkoutRate,
    open_checkout_p50_ms: open.checkout.p50_ms,
    open_checkout_p99_ms: open.checkout.p99_ms,
    open_checkout_machine_cpu_percent: open.checkout.machinePercent,
    open_purchase_rate: open.purchaseRate,
    open_purchase_p50_ms: open.purchase.p50_ms,
    open_purchase_p99_ms: open.purchase.p99_ms,
    open_purchase_machine_cpu_percent: open.purchase.machinePercent,
    double_submit: doubleSubmit,
    burst_p99_ms: burst.p99_ms,
    burst_listen_overflows: burst.listenOverflows,
    sellout_seconds: sellout.seconds,
    sellout_rows_at_last_answer: sellout.rows,
    sellout_failures: sellout.failures,
    sellout_after_status: sellout.afterStatus,
    oversold: sellout.oversold,
    rss_peak_by_phase_mb: rss,
    rss_max_mb: rssMax,
    cluster: cluster.map((c) => ({
      run: c.label,
      checkout_rps: c.checkout.rps,
      checkout_p99_ms: c.checkout.p99_ms,
      commands_per_s_per_master: c.load.masters.map((m) => m.perSecond),
      imbalance: round(c.load.imbalance, 2),
    })),
    targets: TARGETS,
    targets_met: {
      checkout_vs_floor: checkout.rps / floor.rps >= TARGETS.checkout_vs_floor,
      purchase_vs_checkout: purchase.rps / checkout.rps >= TARGETS.purchase_vs_checkout,
      purchase_p99_ms: purchase.p99_ms <= TARGETS.purchase_p99_ms,
      sellout_seconds: sellout.seconds <= TARGETS.sellout_seconds && sellout.oversold === 0 && sellout.rows === SELLOUT_ITEMS,
      open_checkout_p99_ms: open.checkout.p99_ms <= TARGETS.open_checkout_p99_ms,
      open_purchase_p99_ms: open.purchase.p99_ms <= TARGETS.open_purchase_p99_ms,
      rss_max_mb: rssMax <= TARGETS.rss_max_mb,
      double_submit_share_200: doubleSubmit.share_200 >= TARGETS.double_submit_share_200,
    },
    breakdown: { checkout: checkout.breakdown, purchase: purchase.breakdown },
    connections: CONNECTIONS,
    duration_s: DURATION,
    node: process.version,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
  }
  const json = JSON.stringify(line)
  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  writeFileSync(join(RESULTS, `bench-${stamp}.json`), `${json}\n`)
  const svg = chart(`npm run bench, ${new Date().toISOString().slice(0, 16)}Z, ${line.cpus} cores, Node ${line.node}`, [
    { label: 'bare route (floor)', rps: baseline.rps, p99Ms: baseline.p99_ms, floor: true },
    { label: 'route + one Lua call (floor)', rps: floor.rps, p99Ms: floor.p99_ms, floor: true },
    { label: 'checkout', rps: checkout.rps, p99Ms: checkout.p99_ms },
    { label: 'checkout, METRICS=off', rps: quiet.result.rps, p99Ms: quiet.result.p99_ms },
    { label: 'purchase', rps: purchase.rps, p99Ms: purchase.p99_ms },
    ...cluster.map((c) => ({ label: `cluster ${c.label}`, rps: c.checkout.rps, p99Ms: c.checkout.p99_ms })),
  ], [
    `checkout ${line.checkout_vs_floor} of the floor; purchase ${line.purchase_vs_checkout} of checkout; ` +
      `sell-out of 10,000 in ${sellout.seconds} s, ${sellout.oversold} oversold; max RSS ${rssMax} MB`,
    `half load (open model): checkout p99 ${open.checkout.p99_ms} ms at ${open.checkoutRate}/s, ` +
      `purchase p99 ${open.purchase.p99_ms} ms at ${open.purchaseRate}/s; double submits ${doubleSubmit.share_200 * 100}% 200`,
  ])
  writeFileSync(join(RESULTS, `bench-${stamp}.svg`), svg)
  writeFileSync(join(ROOT, 'docs', 'benchmark.svg'), svg)
  process.stdout.write(`${json}\n`)
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

main().catch((err) => {
  log(`failed: ${(err as Error).stack ?? err}`)
  process.exitCode = 1
})
