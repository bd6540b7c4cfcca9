import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { metricTypes, parseMetrics, readMetrics } from '../../kit/operator-client.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { series, total } from '../helpers/metrics.ts'
import { CHECKOUT_RESULTS, PURCHASE_RESULTS, QUERIES, REDIS_COMMANDS, SETTLE_OUTCOMES } from '../../src/sale/meters.ts'
import { LOCK_RESULTS, LOCK_TYPES } from '../../src/sale/locks.ts'
import { SHED_REASONS } from '../../src/plugins/external/load-shedding.ts'
import { lockResource } from '../../src/sale/keys.ts'

async function exposition (app: FastifyInstance): Promise<string> {
  const res = await app.inject('/metrics')
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
  return res.body
}

/** The series name that shows each declared metric: histograms and summaries by their _count. */
function declared (text: string): string[] {
  return [...metricTypes(text)].map(([name, type]) => (type === 'histogram' || type === 'summary' ? `${name}_count` : name))
}

/** Every combination of the given label values. */
function combinations (labels: Record<string, readonly string[]>): Record<string, string>[] {
  return Object.entries(labels).reduce<Record<string, string>[]>(
    (acc, [name, values]) => acc.flatMap((l) => values.map((v) => ({ ...l, [name]: v }))), [{}])
}

/** Every metric the contract names; histograms by their _count series. */
const CONTRACT_SERIES = [
  'http_request_duration_seconds_count',
  'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes', 'process_resident_memory_bytes',
  'flashsale_event_loop_utilization', 'flashsale_db_pool_connections',
  'flashsale_checkout_attempts_total', 'flashsale_purchase_attempts_total',
  'flashsale_sale_units_total', 'flashsale_sale_units_sold', 'flashsale_sale_units_reserved',
  'flashsale_reservations_expired_total',
  'flashsale_lock_acquire_total', 'flashsale_lock_wait_seconds_count', 'flashsale_lock_hold_seconds_count', 'flashsale_lock_lost_total',
  'flashsale_redis_command_duration_seconds_count', 'flashsale_db_query_duration_seconds_count',
]

/** The labelled series of the service's own metrics: every known label value, by metric. */
const KNOWN_LABELS: [string, Record<string, readonly string[]>][] = [
  ['flashsale_checkout_attempts_total', { result: CHECKOUT_RESULTS }],
  ['flashsale_purchase_attempts_total', { result: PURCHASE_RESULTS }],
  ['flashsale_lock_acquire_total', { lock_type: LOCK_TYPES, result: LOCK_RESULTS }],
  ['flashsale_lock_wait_seconds_count', { lock_type: LOCK_TYPES }],
  ['flashsale_lock_hold_seconds_count', { lock_type: LOCK_TYPES }],
  ['flashsale_lock_lost_total', { lock_type: LOCK_TYPES }],
  ['flashsale_redis_command_duration_seconds_count', { command: REDIS_COMMANDS }],
  ['flashsale_redis_errors_total', { command: REDIS_COMMANDS }],
  ['flashsale_db_query_duration_seconds_count', { query: QUERIES }],
  ['flashsale_db_errors_total', { query: QUERIES }],
  ['flashsale_reservations_settled_total', { outcome: SETTLE_OUTCOMES }],
  ['flashsale_load_shed_total', { reason: SHED_REASONS }],
]

/** The only values these labels may take: fixed sets, never ids. */
const ALLOWED: Record<string, Set<string>> = {
  result: new Set([...CHECKOUT_RESULTS, ...PURCHASE_RESULTS, ...LOCK_RESULTS]),
  lock_type: new Set(LOCK_TYPES),
  command: new Set(REDIS_COMMANDS),
  query: new Set(QUERIES),
  method: new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']),
  state: new Set(['max', 'busy', 'waiting', 'idle']),
}

t.test('on the first scrape, before any traffic, every metric and every known label value has a series', async (t) => {
  const { app } = await buildTestApp(t)
  const text = await exposition(app)
  const first = parseMetrics(text)
  const has = (name: string, labels: Record<string, string>) => series(first, name, labels) !== undefined

  // The route histogram is the exception: its first observation is this scrape's own answer.
  const names = new Set(first.map((s) => s.name))
  for (const name of CONTRACT_SERIES.filter((n) => !n.startsWith('http_'))) t.ok(names.has(name), `${name} is exposed`)
  const empty = declared(text).filter((name) => name.startsWith('flashsale_') && !names.has(name))
  t.same(empty, [], 'every flashsale_ metric declared has a series')

  for (const [name, labels] of KNOWN_LABELS) {
    const missing = combinations(labels).filter((l) => !has(name, l)).map((l) => JSON.stringify(l))
    t.same(missing, [], `${name}: a series for every known label value`)
  }
  // Background work (sweeps, the attempt log) may already have timed commands; no counter has moved.
  const moved = first.filter((s) => s.name.endsWith('_total') && KNOWN_LABELS.some(([n]) => n === s.name) && s.value !== 0)
  t.same(moved.map((s) => `${s.name}${JSON.stringify(s.labels)}`), [], 'the counters start at 0')
  t.ok(parseMetrics(await exposition(app)).some((s) => s.name === 'http_request_duration_seconds_count'),
    'http_request_duration_seconds is exposed from the second scrape on')
})

t.test('every contract metric is exposed, moves with traffic, and no label carries an id', async (t) => {
  const { app, send, createSale } = await buildTestApp(t, { LOCK_RETRY_COUNT: 0 })
  const post = (url: string) => app.inject({ method: 'POST', url })

  t.equal((await post('/checkout?user_id=early&id=1')).json().error, 'sale_not_active')
  const saleId = await createSale({ items: 40, stock_per_item: 1, per_user_limit: 2, reservation_ttl_seconds: 1 })
  const before = await readMetrics(send)

  // Checkouts: success, sold_out, user_limit, item_not_found, invalid.
  const codes: string[] = []
  for (let i = 1; i <= 20; i++) codes.push((await post(`/checkout?user_id=buyer-${i}&id=${i}`)).json().code)
  t.equal((await post('/checkout?user_id=late&id=1')).statusCode, 409)
  await post('/checkout?user_id=buyer-1&id=21')
  t.equal((await post('/checkout?user_id=buyer-1&id=22')).statusCode, 429)
  t.equal((await post('/checkout?user_id=x&id=9999')).statusCode, 404)
  t.equal((await post('/checkout?user_id=bad!&id=1')).statusCode, 400)

  // Purchases: success, replay, code_not_found; then lock contention on fresh codes.
  t.equal((await post(`/purchase?code=${codes[0]}`)).statusCode, 200)
  t.equal((await post(`/purchase?code=${codes[0]}`)).statusCode, 200)
  t.equal((await post(`/purchase?code=${saleId}-${'0'.repeat(32)}`)).statusCode, 404)
  // Contention: another holder (another instance, say) has the code's lock while it is bought.
  await app.locks.withLock('purchase', lockResource(app.config.REDIS_KEY_PREFIX, saleId, codes[1]!), async () => {
    t.equal((await post(`/purchase?code=${codes[1]}`)).statusCode, 409, 'purchase_in_progress while the lock is held')
  })
  // An expired reservation: once the sweeper has returned its unit, the purchase answers 410.
  await eventually('every unbought reservation expired', async () => (await app.inject('/sale')).json().units_reserved === 0, 15_000)
  t.equal((await post(`/purchase?code=${codes[19]}`)).statusCode, 410)
  // A URL no route matches must not become a series.
  t.equal((await app.inject('/no/such/route/12345?user_id=leak')).statusCode, 404)

  const after = await readMetrics(send)
  const names = new Set(after.map((s) => s.name))
  for (const name of CONTRACT_SERIES) t.ok(names.has(name), `${name} is exposed`)

  const moved = (name: string, match: Record<string, string>) =>
    t.ok(total(after, name, match) > total(before, name, match), `${name}${JSON.stringify(match)} moved`)
  for (const result of ['success', 'sold_out', 'user_limit', 'item_not_found', 'invalid']) {
    moved('flashsale_checkout_attempts_total', { result })
  }
  t.ok(total(after, 'flashsale_checkout_attempts_total', { result: 'sale_not_active' }) >= 1, 'sale_not_active counted')
  for (const result of ['success', 'replay', 'code_not_found', 'code_expired', 'lock_busy']) {
    moved('flashsale_purchase_attempts_total', { result })
  }
  moved('flashsale_lock_acquire_total', { lock_type: 'purchase', result: 'acquired' })
  moved('flashsale_lock_acquire_total', { lock_type: 'purchase', result: 'busy' })
  moved('flashsale_lock_wait_seconds_count', { lock_type: 'purchase' })
  moved('flashsale_lock_hold_seconds_count', { lock_type: 'purchase' })
  moved('flashsale_redis_command_duration_seconds_count', { command: 'checkout' })
  moved('flashsale_redis_command_duration_seconds_count', { command: 'purchase_begin' })
  moved('flashsale_db_query_duration_seconds_count', { query: 'purchase_insert' })
  moved('http_request_duration_seconds_count', { route: '/checkout', method: 'POST', status_code: '200' })
  moved('http_request_duration_seconds_count', { route: '/purchase', method: 'POST', status_code: '409' })
  moved('flashsale_reservations_expired_total', {})

  const sold = total(after, 'flashsale_purchase_attempts_total', { result: 'success' })
  t.equal(total(after, 'flashsale_sale_units_total'), 40, 'units on sale, read at scrape time')
  t.equal(total(after, 'flashsale_sale_units_sold'), sold, `units sold match successful purchases (${sold})`)
  t.equal(total(after, 'flashsale_sale_units_reserved'), 0, 'every unbought reservation has expired')
  const elu = total(after, 'flashsale_event_loop_utilization')
  t.ok(elu >= 0 && elu <= 1, `event loop utilization in [0, 1]: ${elu}`)
  t.equal(total(after, 'flashsale_db_pool_connections', { state: 'max' }), app.config.DB_POOL_MAX)

  // Label hygiene: fixed sets only, routes are patterns, nothing looks like a code or a user.
  const routes = new Set(after.filter((s) => s.labels.route !== undefined).map((s) => s.labels.route!))
  t.same([...routes].filter((r) => r.includes('?') || /\d/.test(r)), [], 'route labels are patterns, never raw URLs')
  t.notOk(routes.has('/no/such/route/12345'), 'unmatched URLs are not recorded')
  const leaks: string[] = []
  for (const s of after) {
    for (const [k, v] of Object.entries(s.labels)) {
      if (ALLOWED[k] && !ALLOWED[k].has(v)) leaks.push(`${s.name} ${k}=${v}`)
      if (/[0-9a-f]{32}|buyer-|early|late|leak/.test(v)) leaks.push(`${s.name} ${k}=${v}`)
    }
  }
  t.same(leaks, [], 'no label carries an id, a code or a raw URL')
})

t.test('the series count stays bounded: new buyers, items and codes add no series', async (t) => {
  const { app, send, createSale } = await buildTestApp(t)
  await createSale({ items: 200, stock_per_item: 1, per_user_limit: 1 })
  const round = async (from: number) => {
    for (let i = from; i < from + 50; i++) {
      const { code } = (await app.inject({ method: 'POST', url: `/checkout?user_id=u${i}&id=${i + 1}` })).json()
      await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
      await app.inject({ method: 'POST', url: `/checkout?user_id=u${i}&id=${i + 2}` })
    }
    // Metrics that depend only on time (GC, event loop) are left out of the count.
    return (await readMetrics(send)).filter((s) => s.name.startsWith('flashsale_') || s.name.startsWith('http_')).length
  }
  // The first round also brings the series that scrapes and background work create.
  await round(0)
  const second = await round(50)
  const third = await round(100)
  t.ok(second > 50, `series after the second round: ${second}`)
  t.equal(third, second, 'another round of other buyers, items and codes adds no series')
})

t.test('METRICS=off, for measuring what observability costs: the service works and records nothing', async (t) => {
  const { app, createSale } = await buildTestApp(t, { METRICS: 'off' })
  await createSale({ items: 2, stock_per_item: 1 })
  t.equal((await app.inject({ method: 'POST', url: '/checkout?user_id=a&id=1' })).statusCode, 200)
  const text = await exposition(app)
  t.notMatch(text, /^http_request_duration_seconds_count/m, 'no route histogram')
  t.notMatch(text, /^flashsale_checkout_attempts_total/m, 'no domain counters')
})
