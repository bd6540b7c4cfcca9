import t from 'tap'
import type { Test } from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../src/paths.ts'
import { lockResource } from '../../src/sale/keys.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { skipUnlessInstalled } from '../helpers/optional-tools.ts'
import { startPrometheus, type Prometheus, type QueryResult } from '../helpers/prometheus-server.ts'
import { untilRedisTime } from '../helpers/redis-clock.ts'
import { fakeK6Run } from './remote-write.ts'

/** The metric names the contract promises (histograms as their _count series). */
const CONTRACT_METRICS = [
  'http_request_duration_seconds_count', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes',
  'process_resident_memory_bytes', 'nodejs_gc_duration_seconds_count', 'flashsale_event_loop_utilization',
  'flashsale_db_pool_connections', 'flashsale_checkout_attempts_total', 'flashsale_purchase_attempts_total',
  'flashsale_sale_units_total', 'flashsale_sale_units_sold', 'flashsale_sale_units_reserved',
  'flashsale_reservations_expired_total', 'flashsale_lock_acquire_total', 'flashsale_lock_wait_seconds_count',
  'flashsale_lock_hold_seconds_count', 'flashsale_lock_lost_total', 'flashsale_redis_command_duration_seconds_count',
  'flashsale_db_query_duration_seconds_count',
]

/** What a dashboard asks Prometheus, with Grafana's variables as the proof run sets them. */
function dashboardQueries (): { where: string; expr: string }[] {
  const dir = join(ROOT, 'grafana', 'dashboards')
  const out: { where: string; expr: string }[] = []
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(dir, file), 'utf8'))
    for (const v of d.templating.list) if (v.type === 'query') out.push({ where: `${file} $${v.name}`, expr: v.query })
    for (const p of d.panels) {
      for (const target of p.targets ?? []) out.push({ where: `${file} / ${p.title}`, expr: target.expr })
    }
  }
  return out
}

/** The k6 run whose series the proof writes, as `k6 run --tag testid=...` would. */
const TESTID = 'proof-run'

const substitute = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', 'flashsale')
  .replaceAll('$instance', '.+').replaceAll('$testid', TESTID)

/** At least one sample that is a number (histogram quantiles of empty histograms are NaN). */
const hasData = (r: QueryResult) => (r.data?.result ?? []).some((s) => Number.isFinite(Number(s.value[1])))

/** The alerting rules of prometheus/rules/ (the SLO burn-rate alerts are one rule per SLO and tier). */
const RULES_DIR = join(ROOT, 'prometheus', 'rules')
const ALERTS = readdirSync(RULES_DIR).filter((f) => f.endsWith('.yml'))
  .reduce((n, f) => n + [...readFileSync(join(RULES_DIR, f), 'utf8').matchAll(/^\s*- alert: (\S+)$/gm)].length, 0)

/**
 * Every dashboard query is valid and returns data: a panel that says "No data" reads as broken.
 * Prints how many do, with the ones that do not.
 */
async function everyQueryHasData (t: Test, prom: Prometheus, when: string) {
  const queries = dashboardQueries()
  const empty: string[] = []
  for (const { where, expr } of queries) {
    const label = /^label_values\((.*),\s*(\w+)\)$/.exec(expr)
    if (label) {
      const [, match, name] = label
      const r = await prom.api<{ status: string; data: string[] }>(
        `/api/v1/label/${name}/values?match[]=${encodeURIComponent(substitute(match!))}`)
      t.equal(r.status, 'success', `${where}: valid`)
      if (r.data.length === 0) empty.push(`${where}: ${expr}`)
      continue
    }
    const r = await prom.query(substitute(expr))
    t.equal(r.status, 'success', `${where}: valid (${r.error ?? 'ok'})`)
    if (!hasData(r)) empty.push(`${where}: ${expr}`)
  }
  t.comment(`${when}: dashboard queries returning data: ${queries.length - empty.length}/${queries.length}`)
  t.same(empty, [], `${when}: every dashboard query returns data`)
}

t.test('a real Prometheus scraping the service evaluates every dashboard query and rule', { skip: skipUnlessInstalled('prometheus') }, async (t) => {
  // Short reservations so that expiry happens within the run; one lock retry so contention shows fast.
  const { app, config, createSale, redis } = await buildTestApp(t, { LOCK_RETRY_COUNT: 1, LOCK_RETRY_DELAY_MS: 20, LOCK_TTL_MS: 500 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const base = `http://127.0.0.1:${port}`
  const saleId = await createSale({ items: 5_000, stock_per_item: 1, per_user_limit: 2, reservation_ttl_seconds: 1 })

  const prom = await startPrometheus(`127.0.0.1:${port}`)
  t.teardown(() => prom.stop())
  // A k6 run writing to the remote-write receiver all along, for the load-test dashboard.
  const stopK6 = fakeK6Run(prom.url, TESTID)
  t.teardown(stopK6)
  await eventually('Prometheus scraping the service', async () => hasData(await prom.query('up{job="flashsale"} == 1')), 20_000)

  const post = (path: string) => fetch(`${base}${path}`, { method: 'POST' })
    .then(async (r) => ({ status: r.status, body: (await r.json()) as { code: string; expires_at: string } }))
  const seen = new Map<number, number>()
  const count = (s: number) => seen.set(s, (seen.get(s) ?? 0) + 1)
  let item = 0
  let expiring: { code: string; expiresAt: number }[] = []

  // A healthy sale: buyers check out and buy, late buyers find the unit sold. Nothing fails,
  // expires, waits for a lock or is lost; every panel must still show a number, if only 0.
  // It lasts a few scrapes: a series born with its first request needs a second sample to have a rate.
  const calm = new Set<number>()
  for (let i = 0, calmEnds = Date.now() + 3_000; Date.now() < calmEnds; i++) {
    const ok = await post(`/checkout?user_id=calm${i}&id=${++item}`)
    calm.add(ok.status)
    calm.add((await post(`/purchase?code=${ok.body.code}`)).status)
    calm.add((await post(`/checkout?user_id=calm${i}late&id=${item}`)).status) // sold_out
    for (const path of ['/sale', '/sale/items?offset=0&limit=10', '/health']) calm.add((await fetch(`${base}${path}`)).status)
  }
  t.same([...calm].sort(), [200, 409], 'a healthy sale answers 200, and 409 sold_out to late buyers')
  // Prometheus has it all once a scrape after the traffic is in.
  const calmDone = Date.now() / 1000
  await eventually('a scrape after the calm traffic', async () => {
    const r = await prom.query('timestamp(flashsale_purchase_attempts_total{result="success"})')
    return Number(r.data?.result[0]?.value[1] ?? 0) > calmDone
  }, 15_000)
  await t.test('a healthy sale: every dashboard query returns data', (t) => everyQueryHasData(t, prom, 'healthy sale'))

  // Mixed traffic for a few seconds: every checkout and purchase outcome, plus lock contention.
  const trafficEnds = Date.now() + 5_000
  for (let round = 0; Date.now() < trafficEnds; round++) {
    for (let i = 0; i < 4; i++) {
      const ok = await post(`/checkout?user_id=r${round}u${i}&id=${++item}`)
      count(ok.status)
      if (ok.status !== 200) continue
      count((await post(`/purchase?code=${ok.body.code}`)).status) // success
      count((await post(`/purchase?code=${ok.body.code}`)).status) // replay
      count((await post(`/checkout?user_id=r${round}late&id=${item}`)).status) // sold_out
    }
    count((await post('/checkout?user_id=bad!&id=1')).status) // invalid
    count((await post(`/checkout?user_id=r${round}x&id=999999`)).status) // item_not_found
    for (let i = 0; i < 3; i++) count((await post(`/checkout?user_id=r${round}greedy&id=${++item}`)).status) // user_limit
    count((await post(`/purchase?code=${saleId}-${'0'.repeat(32)}`)).status) // code_not_found

    // Contention: the code's lock is held while a purchase of it arrives.
    const held = await post(`/checkout?user_id=r${round}held&id=${++item}`)
    if (held.status === 200) {
      await app.locks.withLock('purchase', lockResource(config.REDIS_KEY_PREFIX, saleId, held.body.code), async () => {
        count((await post(`/purchase?code=${held.body.code}`)).status) // purchase_in_progress
      })
    }
    const lapse = await post(`/checkout?user_id=r${round}slow&id=${++item}`)
    if (lapse.status === 200) expiring.push({ code: lapse.body.code, expiresAt: Date.parse(lapse.body.expires_at) })
    const due = expiring.filter((e) => e.expiresAt < Date.now())
    expiring = expiring.filter((e) => !due.includes(e))
    for (const e of due) count((await post(`/purchase?code=${e.code}`)).status) // code_expired
    count((await fetch(`${base}/sale`)).status)
    count((await fetch(`${base}/sale/items?offset=0&limit=10`)).status)
    count((await fetch(`${base}/health`)).status)
  }
  // A lost lock: its key vanishes while held, so the extension fails and the holder is told
  // (a settle's lock is extended; a purchase's is bounded by its request's deadline instead).
  const lost = lockResource(config.REDIS_KEY_PREFIX, saleId, `${saleId}-${'f'.repeat(32)}`)
  await app.locks.withLock('settle', lost, async (lease) => {
    await redis.del(lost)
    await eventually('the lost lock\'s lease', async () => !lease.held())
  })
  for (const e of expiring) {
    await untilRedisTime(redis, e.expiresAt)
    count((await post(`/purchase?code=${e.code}`)).status)
  }
  t.same([...seen.keys()].sort(), [200, 400, 404, 409, 410, 429], 'traffic produced every kind of answer')

  // Prometheus has seen it all once its counters and the rules evaluated after it show it.
  const trafficDone = Date.now() / 1000
  for (const expr of [
    'flashsale_purchase_attempts_total{result="code_expired"} > 0',
    'flashsale_lock_acquire_total{lock_type="purchase", result="busy"} > 0',
    'flashsale_checkout_attempts_total{result="user_limit"} > 0',
    'flashsale_reservations_expired_total > 0',
    'flashsale_lock_lost_total > 0',
  ]) {
    await eventually(expr, async () => hasData(await prom.query(expr)), 15_000)
  }
  type Rules = { data: { groups: { rules: { name: string; query: string; type: string; health: string; lastError?: string; lastEvaluation: string }[] }[] } }
  const rules = await eventually('every rule evaluated after the traffic', async () => {
    const r = await prom.api<Rules>('/api/v1/rules')
    const all = r.data.groups.flatMap((g) => g.rules)
    return all.every((x) => Date.parse(x.lastEvaluation) / 1000 > trafficDone + 1) ? all : undefined
  }, 15_000)

  t.test('every rule is healthy and its expression valid; recording rules return data', async (t) => {
    t.equal(rules.filter((r) => r.type === 'alerting').length, ALERTS, `the ${ALERTS} alerts are loaded`)
    for (const rule of rules) {
      t.equal(rule.health, 'ok', `${rule.name} evaluates without error ${rule.lastError ?? ''}`)
      const r = await prom.query(rule.query)
      t.equal(r.status, 'success', `${rule.name}: valid (${r.error ?? 'ok'})`)
      if (rule.type === 'recording') {
        t.ok(hasData(await prom.query(rule.name)), `${rule.name}: recorded series has data`)
      }
    }
    const firing = await prom.query('ALERTS{alertname=~"FlashsaleDown|FlashsaleRedisDown|FlashsalePostgresDown"}')
    t.same(firing.data?.result, [], 'nothing says the service or its dependencies are down')
  })

  t.test('k6\'s remote-written series arrive as k6 writes them: its tags as labels, no job or instance', async (t) => {
    const r = await prom.api<{ data: Record<string, string>[] }>(`/api/v1/series?match[]=${encodeURIComponent(`{testid="${TESTID}"}`)}`)
    const names = new Set(r.data.map((s) => s.__name__))
    for (const name of ['k6_http_reqs_total', 'k6_http_req_duration_p95', 'k6_http_req_duration_p99', 'k6_http_req_failed_rate', 'k6_vus']) {
      t.ok(names.has(name), `${name} written`)
    }
    t.same(r.data.filter((s) => s.job !== undefined || s.instance !== undefined), [], 'Prometheus adds no job or instance to written series')
    const failed = await prom.query(`sum(rate(k6_http_reqs_total{testid="${TESTID}", expected_response="false"}[1m])) / sum(rate(k6_http_reqs_total{testid="${TESTID}"}[1m]))`)
    t.equal(Number(Number(failed.data?.result[0]?.value[1]).toFixed(3)), Number((1 / 66).toFixed(3)), 'the failure rate is what the run wrote')
  })

  t.test('Prometheus holds every contract metric, and no label carries an id, a code or a raw URL', async (t) => {
    const r = await prom.api<{ data: Record<string, string>[] }>(`/api/v1/series?match[]=${encodeURIComponent('{job="flashsale"}')}`)
    const names = new Set(r.data.map((s) => s.__name__))
    for (const name of CONTRACT_METRICS) t.ok(names.has(name), `${name} scraped`)
    t.ok(r.data.length < 2_000, `series stay bounded (${r.data.length})`)
    const routes = new Set(r.data.filter((s) => s.route !== undefined).map((s) => s.route))
    t.same([...routes].filter((route) => !/^\/[a-z/]*$/.test(route!)), [], 'routes are patterns, never raw URLs')
    const leaks = r.data.flatMap((s) => Object.entries(s)
      // Bucket bounds, status codes and version parts are numbers by nature; any other all-digit value is an id.
      .filter(([k]) => !['instance', '__name__', 'le', 'status_code', 'major', 'minor', 'patch'].includes(k))
      .filter(([, v]) => /\d+-[0-9a-f]{32}|^r\d+|[?&=]|^\d+$/.test(v))
      .map(([k, v]) => `${s.__name__}{${k}="${v}"}`))
    t.same(leaks, [], 'no codes, user ids, item ids or query strings in labels')
  })

  t.test('after mixed traffic: every dashboard query returns data, and shows the outcomes produced', async (t) => {
    await everyQueryHasData(t, prom, 'mixed traffic')

    // The outcomes the traffic produced are the ones the panels show.
    const byResult = async (expr: string) => Object.fromEntries(
      ((await prom.query(expr)).data?.result ?? []).map((s) => [s.metric.result, Number(s.value[1])]))
    const checkouts = await byResult('sum by (result) (flashsale_checkout_attempts_total{job="flashsale"})')
    for (const r of ['success', 'sold_out', 'user_limit', 'item_not_found', 'invalid']) t.ok(checkouts[r]! > 0, `checkout ${r} counted`)
    const purchases = await byResult('sum by (result) (flashsale_purchase_attempts_total{job="flashsale"})')
    for (const r of ['success', 'replay', 'code_not_found', 'code_expired', 'lock_busy']) t.ok(purchases[r]! > 0, `purchase ${r} counted`)
  })
})
