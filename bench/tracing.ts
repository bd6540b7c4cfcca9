/**
 * What tracing costs the service, in CPU per request: the service is started three times (a
 * child process each, `npm start`'s way), with tracing off, on at 1% (parentbased_traceidratio
 * 0.01) and on at 100%, spans exported over OTLP/HTTP to a sink in this process. Each run sells
 * a sale of its own by N checkouts, then buys every code; the service's own CPU time (user +
 * system, /proc) over each phase, divided by the requests, is the figure. Rounds alternate the
 * three settings so that a busy moment of the machine spreads over all of them.
 *
 *   node --import ./src/require-node.mjs bench/tracing.ts
 *
 * TRACING_BENCH_REQUESTS (10000) and TRACING_BENCH_ROUNDS (3) size it; TRACING_BENCH_ONLY=1%,100%
 * runs some settings only; TRACING_BENCH_CPU_PROF=<dir> writes the service's CPU profiles there
 * (`node bench/profile-top.ts <file>` summarises one).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { Pool } from 'undici'
import { createSale } from '../kit/operator-client.ts'
import { createScratchDatabase, scratchServers, uniqueName } from '../kit/scratch-servers.ts'

const env = process.env
const REQUESTS = Number(env.TRACING_BENCH_REQUESTS ?? 10_000)
const ROUNDS = Number(env.TRACING_BENCH_ROUNDS ?? 3)
const CONNECTIONS = 64
const ADMIN_TOKEN = uniqueName('bench-admin-token')
const ROOT = join(import.meta.dirname, '..')
const { redisUrl, postgresAdminUrl } = scratchServers(env)

const SETTINGS: Record<string, Record<string, string>> = {
  off: {},
  '1%': { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' },
  '100%': { OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
}

/** An OTLP/HTTP endpoint that takes every export and keeps only its size and its count of spans. */
async function otlpSink () {
  const received = { exports: 0, bytes: 0, spans: 0 }
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => {
      received.bytes += chunk.length
      // Each span has one "spanId" (a parent's is "parentSpanId"); a split chunk may miss one.
      received.spans += chunk.toString('latin1').split('"spanId"').length - 1
    })
    req.on('end', () => {
      received.exports++
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, close: () => server.close() }
}

/** User + system CPU of `pid` so far, in µs (Linux counts it in ticks of 1/100 s). */
function cpuUs (pid: number): number {
  const after = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(after[11]) + Number(after[12])) * 10_000
}

/** A port nothing listens on now, picked by the kernel. */
async function freePort (): Promise<number> {
  const server = createTcpServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

async function startService (extra: Record<string, string>, dbUrl: string, prefix: string): Promise<{ child: ChildProcess, origin: string }> {
  const port = await freePort()
  const profile = env.TRACING_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', env.TRACING_BENCH_CPU_PROF] : []
  const child = spawn(process.execPath, ['--max-semi-space-size=8', ...profile, '--import', './src/require-node.mjs', 'src/start.ts'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      PATH: env.PATH,
      PORT: String(port),
      DATABASE_URL: dbUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      ADMIN_TOKEN,
      SALE_SCHEDULE: 'off',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_IP_MAX: '10000000',
      ...extra,
    },
  })
  const origin = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode} while starting`)
    const up = await fetch(`${origin}/health`).then((r) => r.ok, () => false)
    if (up) return { child, origin }
    if (i > 300) throw new Error('the service did not start within 30 s')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Sends `paths` as POSTs, CONNECTIONS at a time; returns each answer's body (JSON). */
async function post (pool: Pool, paths: string[]): Promise<{ status: number, body: Record<string, unknown> }[]> {
  const answers = new Array(paths.length)
  let next = 0
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (next < paths.length) {
      const i = next++
      const res = await pool.request({ method: 'POST', path: paths[i]! })
      answers[i] = { status: res.statusCode, body: await res.body.json() }
    }
  }))
  return answers
}

async function measure (setting: string, sink: string, received: { spans: number }) {
  const spansBefore = received.spans
  const db = await createScratchDatabase(postgresAdminUrl, { prefix: 'flashsale_bench' })
  const prefix = uniqueName('bench').replace(/_/g, '-')
  const extra = setting === 'off' ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: sink, ...SETTINGS[setting] }
  let service: { child: ChildProcess, origin: string } | undefined
  let pool: Pool | undefined
  try {
    service = await startService(extra, db.url, prefix)
    const { child, origin } = service
    pool = new Pool(origin, { connections: CONNECTIONS })
    await createSale(async (method, path, options = {}) => {
      const res = await fetch(`${origin}${path}`, { method, headers: options.headers, body: options.body })
      return { status: res.status, body: await res.json() }
    }, ADMIN_TOKEN, { items: REQUESTS, stock_per_item: 1 })
    // A short warm-up on items past the sale's, so the JIT has seen both routes' paths.
    await post(pool, Array.from({ length: 500 }, (_, i) => `/checkout?user_id=w${i}&id=${REQUESTS + 1}`))
    await post(pool, Array.from({ length: 500 }, () => '/purchase?code=1-00000000000000000000000000000000'))

    let cpu = cpuUs(child.pid!)
    const checkouts = await post(pool, Array.from({ length: REQUESTS }, (_, i) => `/checkout?user_id=u${i}&id=${i + 1}`))
    const checkoutUs = (cpuUs(child.pid!) - cpu) / REQUESTS
    const codes = checkouts.filter((a) => a.status === 200).map((a) => a.body.code as string)
    cpu = cpuUs(child.pid!)
    const purchases = await post(pool, codes.map((code) => `/purchase?code=${code}`))
    const purchaseUs = (cpuUs(child.pid!) - cpu) / codes.length
    const bought = purchases.filter((a) => a.status === 200).length
    if (codes.length !== REQUESTS || bought !== REQUESTS) throw new Error(`${setting}: ${codes.length} reserved, ${bought} bought of ${REQUESTS}`)
    return { checkoutUs, purchaseUs, spans: () => received.spans - spansBefore }
  } finally {
    await pool?.close()
    const child = service?.child
    if (child && child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
    await db.drop()
    const redis = new Redis(redisUrl)
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 })) if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  }
}

const sink = await otlpSink()
const results: Record<string, { checkoutUs: number[], purchaseUs: number[] }> = {}
const only = env.TRACING_BENCH_ONLY?.split(',')
for (let round = 1; round <= ROUNDS; round++) {
  for (const setting of Object.keys(SETTINGS).filter((s) => !only || only.includes(s))) {
    const { checkoutUs, purchaseUs, spans } = await measure(setting, sink.url, sink.received)
    const r = (results[setting] ??= { checkoutUs: [], purchaseUs: [] })
    r.checkoutUs.push(checkoutUs)
    r.purchaseUs.push(purchaseUs)
    console.log(`round ${round}, tracing ${setting}: service CPU ${checkoutUs.toFixed(0)} µs per checkout, ${purchaseUs.toFixed(0)} µs per purchase; ` +
      `${spans()} spans exported (stopped and flushed)`)
  }
}
sink.close()

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const off = results.off ?? { checkoutUs: [NaN], purchaseUs: [NaN] }
console.log(`\n${REQUESTS} checkouts then ${REQUESTS} purchases per run, ${ROUNDS} rounds, medians (OTLP export: ${sink.received.exports} posts, ${(sink.received.bytes / 1e6).toFixed(1)} MB):`)
console.log('| tracing | checkout µs CPU | vs off | purchase µs CPU | vs off |')
console.log('|---|---|---|---|---|')
for (const [setting, r] of Object.entries(results)) {
  const c = median(r.checkoutUs)
  const p = median(r.purchaseUs)
  const pct = (x: number, base: number) => setting === 'off' ? '' : `${x >= base ? '+' : ''}${(((x - base) / base) * 100).toFixed(0)}%`
  console.log(`| ${setting} | ${c.toFixed(0)} | ${pct(c, median(off.checkoutUs))} | ${p.toFixed(0)} | ${pct(p, median(off.purchaseUs))} |`)
}
