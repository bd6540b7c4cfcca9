import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { ROOT } from '../src/paths.ts'
import { createScratchDatabase, scratchServers, uniqueName } from '../kit/scratch-servers.ts'
import { chart } from './chart.ts'
import { clusterRuns, type ClusterRun } from './cluster-phase.ts'
import { costMeter, sumCosts, type CostPerRequest, type RedisCommandCosts } from './cost.ts'
import { client, hammer, type Throughput } from './load.ts'
import { ownRedis, pinning, pinSelf } from './pinning.ts'
import { onInterrupt, startChild, type Child } from './processes.ts'
import {
  burstPhase, checkoutPhase, doubleSubmitPhase, openModelPhase, purchasePhase, selloutPhase, type PhaseSettings,
} from './service-phases.ts'

/**
 * `npm run bench`: one run on this machine. Its headline is what each request costs in CPU
 * time, process by process (the service, Redis, Postgres), for checkout, purchase and a full buy,
 * and for the two floors measured in the same run (a bare Fastify route; the same route plus one
 * Lua call); then throughput, latency and the ratios. The service runs in a child process as
 * `npm start` runs it, on a database and key prefix of its own, pinned to a core of its own
 * (pinning.ts). Prints one JSON line on stdout and writes it and an SVG chart to bench/results/;
 * progress goes to stderr.
 */
const RESULTS = join(ROOT, 'bench', 'results')
const env = process.env
const servers = scratchServers(env)
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 100)
const DURATION = Number(env.BENCH_DURATION ?? 10)
const ADMIN_TOKEN = `bench-${uniqueName('token')}`
const SELLOUT_ITEMS = 10_000
/** The Node flags `npm start` (package.json) and the image (Dockerfile) run the service with. */
const START_NODE_FLAGS = ['--max-semi-space-size=8']
/** BENCH_NODE_FLAGS (space-separated) tries others, e.g. BENCH_NODE_FLAGS= for Node's defaults. */
const SERVICE_NODE_FLAGS = env.BENCH_NODE_FLAGS === undefined ? START_NODE_FLAGS : env.BENCH_NODE_FLAGS.split(' ').filter(Boolean)
const PHASES = ['floors', 'checkout', 'purchase', 'open', 'double', 'burst', 'sellout', 'quiet', 'cluster'] as const
type Phase = (typeof PHASES)[number]
/** BENCH_PHASES=checkout,purchase runs only those (an A/B of one change takes a minute). */
const chosen = new Set((env.BENCH_PHASES ?? PHASES.join(',')).split(',').map((p) => p.trim()))
const runs = (phase: Phase) => chosen.has(phase)
const TARGETS = {
  checkout_service_us: 50,
  purchase_service_us: 80,
  checkout_all_us: 85,
  purchase_all_us: 150,
  checkout_vs_floor: 0.7,
  purchase_vs_checkout: 0.6,
  checkout_p99_ms: 20,
  purchase_p99_ms: 30,
  sellout_seconds: 2,
  open_checkout_p99_ms: 10,
  open_purchase_p99_ms: 20,
  rss_max_mb: 200,
  double_submit_share_200: 0.99,
}

const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`)
const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits
const costText = (c: CostPerRequest) => `service ${c.service_us}, Redis ${c.redis_us}, Postgres ${c.postgres_us}, all ${c.all_us} µs`
const commandsText = (c: RedisCommandCosts) => Object.entries(c).map(([name, { calls, us }]) => `${name} ${calls}× ${us} µs`).join(', ')

interface Bench {
  pins: ReturnType<typeof pinning>
  redisUrl: string
}

/** A bare route (baseline or floor) in a child process, hammered like checkout. */
async function measureRoute (bench: Bench, name: string, file: string, usesRedis: boolean) {
  const child = await startChild(name, join(ROOT, 'bench', file),
    { REDIS_URL: bench.redisUrl, REDIS_KEY_PREFIX: uniqueName('floor') }, [], bench.pins.service)
  try {
    const path = (i: number) => `/checkout?user_id=b${i}&id=${(i % 10_000) + 1}`
    await hammer(child.url, path, { connections: CONNECTIONS, duration: 2 })
    const meter = await costMeter({ servicePid: child.pid, ...(usesRedis ? { redisUrl: bench.redisUrl } : {}) })
    const result = await hammer(child.url, path, { connections: CONNECTIONS, duration: DURATION })
    const cost = await meter.perRequest(result.requests)
    log(`${name} ${result.rps} req/s, p99 ${result.p99_ms} ms; CPU per request: ${costText(cost)}`)
    return { ...result, cost }
  } finally {
    await child.stop()
  }
}

/**
 * BENCH_SERVICE_ENV="NAME=value NAME2=value2" sets the service's settings over the bench's own,
 * for an A/B of one setting on one build (RATE_LIMIT_IP_MAX=0, say).
 */
function serviceEnvOverrides (): Record<string, string> {
  const pairs = (env.BENCH_SERVICE_ENV ?? '').split(/\s+/).filter(Boolean)
  return Object.fromEntries(pairs.map((pair) => {
    const at = pair.indexOf('=')
    if (at < 1) throw new Error(`BENCH_SERVICE_ENV: "${pair}" is not NAME=value`)
    return [pair.slice(0, at), pair.slice(at + 1)]
  }))
}

type PhaseRun<T> = (service: Child, dbUrl: string, phasePeak: () => number) => Promise<T>

/** The service in a child process on a scratch database and prefix; its RSS sampled all along. */
async function withService<T> (bench: Bench, name: string, extra: Record<string, string>, run: PhaseRun<T>) {
  const db = await createScratchDatabase(servers.postgresAdminUrl, { prefix: 'flashsale_bench' })
  const prefix = uniqueName('bench').replace(/_/g, '-')
  const started: { child?: Child } = {}
  const release = onInterrupt(async () => {
    await started.child?.stop()
    await Promise.allSettled([db.drop(), dropKeys(bench.redisUrl, prefix)])
  })
  const profile = env.BENCH_CPU_PROF === '1' ? ['--cpu-prof', '--cpu-prof-dir', join(RESULTS, 'profiles')] : []
  const child = await startChild(name, join(ROOT, 'bench', 'service.ts'), {
    DATABASE_URL: db.url,
    REDIS_URL: bench.redisUrl,
    // BENCH_REDLOCK=1 names the same server apart from REDIS_URL: the purchase then takes its lock
    // with full Redlock instead of inside its scripts, for an A/B of the two on one build.
    REDLOCK_REDIS_URLS: env.BENCH_REDLOCK === '1' ? `${bench.redisUrl}/0` : bench.redisUrl,
    REDIS_KEY_PREFIX: prefix,
    ADMIN_TOKEN,
    SALE_SCHEDULE: 'off',
    LOG_LEVEL: 'warn',
    // Every request comes from one address: the per-IP limit stays on (its cost is measured) but
    // high enough never to answer 429. Buyers are distinct, so the per-user limit holds.
    RATE_LIMIT_IP_MAX: '10000000',
    ...serviceEnvOverrides(),
    ...extra,
  }, [...SERVICE_NODE_FLAGS, ...profile], bench.pins.service)
  started.child = child
  const rss = rssSampler(child)
  try {
    return { result: await run(child, db.url, rss.phasePeak), rssMax: rss.max }
  } finally {
    rss.stop()
    const code = await child.stop()
    if (code !== 0) log(`${name} exited with ${code}`)
    await db.drop()
    await dropKeys(bench.redisUrl, prefix)
    release()
  }
}

/** Samples a child's RSS every 200 ms: its peak over the run, and since the last phasePeak(). */
function rssSampler (child: Child) {
  let max = child.rssMb()
  let phaseMax = max
  const timer = setInterval(() => {
    const now = child.rssMb()
    max = Math.max(max, now)
    phaseMax = Math.max(phaseMax, now)
  }, 200)
  return {
    max: () => max,
    phasePeak () {
      const peak = Math.max(phaseMax, child.rssMb())
      phaseMax = 0
      return peak
    },
    stop: () => clearInterval(timer),
  }
}

function settingsOf (bench: Bench, service: Child, dbUrl: string): PhaseSettings {
  return {
    url: service.url,
    redisUrl: bench.redisUrl,
    servicePid: service.pid,
    databaseUrl: dbUrl,
    connections: CONNECTIONS,
    duration: DURATION,
    warmup: 2,
    purchases: Number(env.BENCH_PURCHASES ?? 20_000),
    items: SELLOUT_ITEMS,
    selloutConnections: Number(env.BENCH_SELLOUT_CONNECTIONS ?? 100),
    burst: { rate: Number(env.BENCH_BURST_RATE ?? 2_000), seconds: Number(env.BENCH_BURST_SECONDS ?? 5) },
    adminToken: ADMIN_TOKEN,
    log,
  }
}

/** The closed-loop phases: checkout and purchase at `CONNECTIONS`, with their cost per request. */
async function closedLoop (s: PhaseSettings, api: ReturnType<typeof client>, rss: Record<string, number>, phasePeak: () => number) {
  const checkout = runs('checkout') || runs('purchase') ? await checkoutPhase(s, api) : undefined
  rss.checkout = phasePeak()
  if (checkout) {
    log(`checkout ${checkout.rps} req/s, p99 ${checkout.p99_ms} ms, machine CPU ${checkout.machinePercent}%; ` +
      `CPU per checkout: ${costText(checkout.cost)}`)
    log(`Redis time per checkout, by command: ${commandsText(checkout.redisCommands)}`)
  }
  const purchase = runs('purchase') ? await purchasePhase(s, api) : undefined
  rss.purchase = phasePeak()
  if (purchase) {
    log(`purchase ${purchase.rps} req/s, p99 ${purchase.p99_ms} ms, machine CPU ${purchase.machinePercent}%; ` +
      `CPU per purchase: ${costText(purchase.cost)}`)
    log(`Redis time per purchase, by command: ${commandsText(purchase.redisCommands)}`)
  }
  return { checkout, purchase }
}

/** Every phase on one service process, in order. */
async function servicePhases (bench: Bench) {
  return withService(bench, 'service', {}, async (service, dbUrl, phasePeak) => {
    const rss: Record<string, number> = { idle: phasePeak() }
    const s = settingsOf(bench, service, dbUrl)
    const api = client(service.url, Math.max(CONNECTIONS, s.selloutConnections, 150))
    try {
      const { checkout, purchase } = await closedLoop(s, api, rss, phasePeak)
      const open = runs('open') && checkout && purchase ? await openModelPhase(s, api, checkout.rps, purchase.rps) : undefined
      rss.open_model = phasePeak()
      if (open) {
        log(`open model: checkout at ${open.checkoutRate}/s p50 ${open.checkout.p50_ms} ms, p99 ${open.checkout.p99_ms} ms; ` +
          `purchase at ${open.purchaseRate}/s p50 ${open.purchase.p50_ms} ms, p99 ${open.purchase.p99_ms} ms`)
      }
      const doubleSubmit = runs('double') ? await doubleSubmitPhase(s, api) : undefined
      rss.double_submit = phasePeak()
      if (doubleSubmit) log(`double submits: ${doubleSubmit.share_200 * 100}% answered 200, ${doubleSubmit.in_progress_409} 409s`)
      const burst = runs('burst') ? await burstPhase(s) : undefined
      rss.burst = phasePeak()
      if (burst) log(`burst of new connections at ${s.burst.rate}/s: p99 ${burst.p99_ms} ms, listen overflows ${burst.listenOverflows}`)
      const sellout = runs('sellout') ? await selloutPhase(s, api, dbUrl) : undefined
      rss.sellout = phasePeak()
      if (sellout) {
        log(`sell-out of ${s.items} in ${sellout.seconds} s; ${sellout.rows} rows at the last answer; oversold ${sellout.oversold}; ` +
          `failed: ${JSON.stringify(sellout.failed)}`)
      }
      log(`service RSS peak by phase (MB): ${Object.entries(rss).map(([phase, mb]) => `${phase} ${mb}`).join(', ')}`)
      return { checkout, purchase, open, doubleSubmit, burst, sellout, rss }
    } finally {
      await api.close()
    }
  })
}

/** Checkout with METRICS=off: what observability costs. */
async function quietPhase (bench: Bench) {
  return withService(bench, 'service, METRICS=off', { METRICS: 'off' }, async (service, dbUrl) => {
    const api = client(service.url, 4)
    try {
      const quiet = await checkoutPhase(settingsOf(bench, service, dbUrl), api, 'm')
      log(`checkout with METRICS=off ${quiet.rps} req/s; CPU per checkout: ${costText(quiet.cost)}`)
      return quiet
    } finally {
      await api.close()
    }
  })
}

async function clusterPhase (): Promise<ClusterRun[]> {
  const skipped = !runs('cluster') || env.BENCH_CLUSTER === '0'
    ? 'BENCH_CLUSTER=0 or not in BENCH_PHASES'
    : spawnSync('redis-server', ['--version']).status === 0 ? undefined : 'redis-server is not installed'
  if (skipped) {
    log(`cluster runs skipped: ${skipped}`)
    return []
  }
  return clusterRuns({ postgresAdminUrl: servers.postgresAdminUrl, connections: CONNECTIONS, seconds: 5, nodeFlags: SERVICE_NODE_FLAGS, log })
}

type Measured = Awaited<ReturnType<typeof servicePhases>>['result']
type Floors = { baseline: Awaited<ReturnType<typeof measureRoute>>; floor: Awaited<ReturnType<typeof measureRoute>> }

/** The headline: CPU time per request, process by process, for each phase and the floors. */
function costLine (m: Measured, floors?: Floors) {
  return {
    checkout: m.checkout?.cost,
    purchase: m.purchase?.cost,
    full_buy: m.checkout && m.purchase ? sumCosts(m.checkout.cost, m.purchase.cost) : undefined,
    floor_route: floors?.baseline.cost,
    floor_route_and_lua: floors?.floor.cost,
  }
}

function throughputLine (m: Measured, quiet: Throughput | undefined, floors?: Floors) {
  const { checkout, purchase, open, burst, sellout } = m
  return {
    baseline_rps: floors?.baseline.rps,
    floor_rps: floors?.floor.rps,
    checkout_rps: checkout?.rps,
    checkout_p50_ms: checkout?.p50_ms,
    checkout_p99_ms: checkout?.p99_ms,
    checkout_vs_floor: checkout && floors ? round(checkout.rps / floors.floor.rps) : undefined,
    checkout_metrics_off_rps: quiet?.rps,
    checkout_machine_cpu_percent: checkout?.machinePercent,
    purchase_rps: purchase?.rps,
    purchase_p50_ms: purchase?.p50_ms,
    purchase_p99_ms: purchase?.p99_ms,
    purchase_machine_cpu_percent: purchase?.machinePercent,
    purchase_vs_checkout: checkout && purchase ? round(purchase.rps / checkout.rps) : undefined,
    open_checkout_rate: open?.checkoutRate,
    open_checkout_p99_ms: open?.checkout.p99_ms,
    open_purchase_rate: open?.purchaseRate,
    open_purchase_p99_ms: open?.purchase.p99_ms,
    double_submit: m.doubleSubmit,
    burst_p99_ms: burst?.p99_ms,
    burst_listen_overflows: burst?.listenOverflows,
    sellout_seconds: sellout?.seconds,
    sellout_rows_at_last_answer: sellout?.rows,
    sellout_failures: sellout?.failures,
    sellout_failed: sellout?.failed,
    sellout_after_status: sellout?.afterStatus,
    oversold: sellout?.oversold,
  }
}

/** Each target against what was measured; a target whose phase did not run is left out. */
function targetsMet (m: Measured, rssMax: number, floors?: Floors) {
  const { checkout: c, purchase: p, open, sellout, doubleSubmit } = m
  const met: Record<string, boolean> = {}
  const check = (name: keyof typeof TARGETS, value: number | undefined, atLeast = false) => {
    if (value !== undefined) met[name] = atLeast ? value >= TARGETS[name] : value <= TARGETS[name]
  }
  check('checkout_service_us', c?.cost.service_us)
  check('purchase_service_us', p?.cost.service_us)
  check('checkout_all_us', c?.cost.all_us)
  check('purchase_all_us', p?.cost.all_us)
  check('checkout_vs_floor', c && floors ? c.rps / floors.floor.rps : undefined, true)
  check('purchase_vs_checkout', c && p ? p.rps / c.rps : undefined, true)
  check('checkout_p99_ms', c?.p99_ms)
  check('purchase_p99_ms', p?.p99_ms)
  if (sellout) met.sellout_seconds = sellout.seconds <= TARGETS.sellout_seconds && sellout.oversold === 0 && sellout.rows === SELLOUT_ITEMS
  check('open_checkout_p99_ms', open?.checkout.p99_ms)
  check('open_purchase_p99_ms', open?.purchase.p99_ms)
  check('rss_max_mb', rssMax)
  check('double_submit_share_200', doubleSubmit?.share_200, true)
  return met
}

function chartOf (line: ReturnType<typeof resultLine>, m: Measured, quiet: Throughput | undefined, floors: Floors | undefined, cluster: ClusterRun[]) {
  const bar = (label: string, t: Throughput | undefined, floor = false) => (t ? [{ label, rps: t.rps, p99Ms: t.p99_ms, floor }] : [])
  const cost = (label: string, c: CostPerRequest | undefined) => (c ? `${label} ${c.service_us} µs service, ${c.all_us} µs all` : '')
  return chart(`npm run bench, ${new Date().toISOString().slice(0, 16)}Z, ${line.cpus} cores, Node ${line.node}`, [
    ...bar('bare route (floor)', floors?.baseline, true),
    ...bar('route + one Lua call (floor)', floors?.floor, true),
    ...bar('checkout', m.checkout),
    ...bar('checkout, METRICS=off', quiet),
    ...bar('purchase', m.purchase),
    ...cluster.map((c) => ({ label: `cluster ${c.label}`, rps: c.checkout.rps, p99Ms: c.checkout.p99_ms })),
  ], [
    `CPU per request: ${cost('checkout', m.checkout?.cost)}; ${cost('purchase', m.purchase?.cost)}`,
    `sell-out of 10,000 in ${m.sellout?.seconds ?? '—'} s, ${m.sellout?.oversold ?? '—'} oversold; max RSS ${line.rss_max_mb} MB`,
  ])
}

function resultLine (m: Measured, rssMax: number, quiet: Throughput | undefined, floors: Floors | undefined, cluster: ClusterRun[], pins: Bench['pins']) {
  return {
    cpu_us_per_request: costLine(m, floors),
    ...throughputLine(m, quiet, floors),
    rss_peak_by_phase_mb: m.rss,
    rss_max_mb: rssMax,
    cluster: cluster.map((c) => ({
      run: c.label,
      checkout_rps: c.checkout.rps,
      checkout_p99_ms: c.checkout.p99_ms,
      commands_per_s_per_master: c.load.masters.map((m) => m.perSecond),
      imbalance: round(c.load.imbalance, 2),
    })),
    targets: TARGETS,
    targets_met: targetsMet(m, rssMax, floors),
    breakdown: { checkout: m.checkout?.breakdown, purchase: m.purchase?.breakdown },
    redis_commands_per_request: { checkout: m.checkout?.redisCommands, purchase: m.purchase?.redisCommands },
    phases: [...chosen],
    pinning: pins,
    connections: CONNECTIONS,
    duration_s: DURATION,
    node: process.version,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
  }
}

async function main () {
  mkdirSync(RESULTS, { recursive: true })
  const pins = pinning(env)
  pinSelf(pins.others)
  const own = env.BENCH_OWN_REDIS === '0' ? undefined : await ownRedis(pins.others)
  const bench: Bench = { pins, redisUrl: own?.url ?? servers.redisUrl }
  const releaseRedis = onInterrupt(async () => own?.stop())
  log(`service on cpu ${pins.service ?? 'any'}, load${own ? ' and Redis' : ''} on cpu ${pins.others ?? 'any'}; Redis ${bench.redisUrl}`)
  try {
    const floors = runs('floors')
      ? { baseline: await measureRoute(bench, 'baseline', 'baseline-server.ts', false), floor: await measureRoute(bench, 'floor', 'floor-server.ts', true) }
      : undefined
    const measured = await servicePhases(bench)
    const quiet = runs('quiet') ? await quietPhase(bench) : undefined
    const cluster = await clusterPhase()
    const rssMax = Math.max(measured.rssMax(), quiet?.rssMax() ?? 0)
    const line = resultLine(measured.result, rssMax, quiet?.result, floors, cluster, pins)
    const json = JSON.stringify(line)
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    writeFileSync(join(RESULTS, `bench-${stamp}.json`), `${json}\n`)
    writeFileSync(join(RESULTS, `bench-${stamp}.svg`), chartOf(line, measured.result, quiet?.result, floors, cluster))
    process.stdout.write(`${json}\n`)
  } finally {
    await own?.stop()
    releaseRedis()
  }
}

async function dropKeys (redisUrl: string, prefix: string) {
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
