import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { parseMetrics, readMetrics } from '../../kit/operator-client.ts'
import { buildTestApp, ADMIN_TOKEN } from '../helpers/app.ts'
import { freePort } from '../helpers/free-port.ts'
import { series } from '../helpers/metrics.ts'
import { spawnService } from '../../kit/service-process.ts'
import { findKeys } from '../helpers/test-redis.ts'
import { lockResource, purchaseRateKey } from '../../src/sale/keys.ts'

const admin = (authorization?: string) => ({
  method: 'POST' as const,
  url: '/admin/sales',
  headers: authorization === undefined ? {} : { authorization },
  payload: { items: 2, stock_per_item: 1 },
})

t.test('the operator API needs the token', async (t) => {
  const { app } = await buildTestApp(t)
  for (const auth of [undefined, '', 'Bearer', `Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(1)}`, ADMIN_TOKEN, `Basic ${ADMIN_TOKEN}`]) {
    const res = await app.inject(admin(auth))
    t.equal(res.statusCode, 401, `refused: ${JSON.stringify(auth)}`)
    t.equal(res.json().error, 'unauthorized')
  }
  t.equal((await app.inject(admin(`Bearer ${ADMIN_TOKEN}`))).statusCode, 201, 'the right token creates a sale')
})

t.test('configuration refuses an operator API without a token, or with a short one', async (t) => {
  t.throws(() => loadConfig({ SALE_SCHEDULE: 'off' }), ConfigError, 'no token with SALE_SCHEDULE=off')
  t.throws(() => loadConfig({ ADMIN_TOKEN: 'short' }), /ADMIN_TOKEN: must be at least 16/, 'short token')
  t.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN: must be at least 16/, 'short metrics token')

  // The real process says so and exits non-zero, before touching anything.
  const child = spawnService(t, process.execPath, ['test/helpers/fault-server.ts'], { ADMIN_TOKEN: 'short' })
  t.same(await child.exited, { code: 1, signal: null }, 'refuses to start')
  t.match(child.output(), /ADMIN_TOKEN: must be at least 16 characters/, 'and says why')
})

t.test('rate limiting per user, backed by Redis, answers 429 rate_limited and records the attempt', async (t) => {
  const { app, send, createSale, redis, config, sql } = await buildTestApp(t, { RATE_LIMIT_USER_MAX: 3, RATE_LIMIT_IP_MAX: 0 })
  await createSale({ items: 20, stock_per_item: 1, per_user_limit: 100 })
  const answers = []
  for (let i = 1; i <= 5; i++) answers.push(await app.inject({ method: 'POST', url: `/checkout?user_id=alice&id=${i}` }))
  t.same(answers.map((r) => r.statusCode), [200, 200, 200, 429, 429])
  const limited = answers[4]!
  t.same(limited.json(), { error: 'rate_limited', message: limited.json().message })
  t.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 10, 'Retry-After within the window')
  t.equal((await app.inject({ method: 'POST', url: '/checkout?user_id=bob&id=9' })).statusCode, 200, 'another user is not limited')
  t.ok((await findKeys(redis, `${config.REDIS_KEY_PREFIX}:*ratelimit:user:alice`)).length > 0, 'counted in Redis')

  t.equal(series(await readMetrics(send), 'flashsale_checkout_attempts_total', { result: 'rate_limited' }), 2, 'counted in metrics')
  await app.sale.tick()
  const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts WHERE result = 'rate_limited' AND user_id = 'alice'`
  t.equal(row!.n, 2, 'limited attempts are persisted')
})

t.test('rate limiting per IP; operators\' endpoints are exempt', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 5, RATE_LIMIT_USER_MAX: 0 })
  const get = (remoteAddress: string, url = '/sale') => app.inject({ method: 'GET', url, remoteAddress })
  const codes = []
  for (let i = 0; i < 7; i++) codes.push((await get('203.0.113.7')).statusCode)
  t.same(codes.slice(5), [429, 429], 'the 6th request in the window is refused')
  t.ok(codes.slice(0, 5).every((c) => c !== 429))
  t.not((await get('203.0.113.8')).statusCode, 429, 'another address is not')
  for (let i = 0; i < 8; i++) t.not((await get('203.0.113.7', '/metrics')).statusCode, 429, '/metrics is exempt')
})

t.test('purchases are limited per address by their first script, and the limited code stays unbought', async (t) => {
  const { app, send, createSale, redis, config, sql } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 3, RATE_LIMIT_USER_MAX: 0 })
  const saleId = await createSale({ items: 6, stock_per_item: 1, per_user_limit: 10 })
  const codes: string[] = []
  for (let i = 1; i <= 5; i++) {
    // Checkouts from addresses of their own, so that only the purchases count against 203.0.113.9.
    const res = await app.inject({ method: 'POST', url: `/checkout?user_id=u${i}&id=${i}`, remoteAddress: `198.51.100.${i}` })
    codes.push(res.json().code)
  }
  const buy = (code: string, remoteAddress = '203.0.113.9') => app.inject({ method: 'POST', url: `/purchase?code=${code}`, remoteAddress })
  const answers = []
  for (const code of codes) answers.push(await buy(code))
  t.same(answers.map((r) => r.statusCode), [200, 200, 200, 429, 429], 'the 4th purchase in the window is refused')
  const limited = answers[3]!
  t.equal(limited.json().error, 'rate_limited')
  t.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 10, 'Retry-After within the window')
  // A code of a sale Redis does not hold is answered from Postgres, and counted apart from the sale's.
  const gone = []
  for (let i = 0; i < 4; i++) gone.push((await buy(`${saleId + 1000}-${'0'.repeat(32)}`)).statusCode)
  t.same(gone, [404, 404, 404, 429], 'codes answered from Postgres are limited too')

  const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM purchases WHERE code IN ${sql(codes.slice(3))}`
  t.equal(row!.n, 0, 'a limited purchase buys nothing')
  const res = app.sale.catalog.get(saleId)!.shards[0]!.res
  t.match(await redis.hget(res, codes[3]!), /^R\|/, 'its reservation is still reserved')
  t.equal((await buy(codes[3]!, '203.0.113.10')).statusCode, 200, 'and another address buys it')
  t.equal(series(await readMetrics(send), 'flashsale_purchase_attempts_total', { result: 'rate_limited' }), 3, 'counted in metrics')
  t.same(await findKeys(redis, `${config.REDIS_KEY_PREFIX}:ratelimit:203.0.113.9*`), [], 'not by the limiter of the other routes')
})

t.test('a purchase that retries a held lock counts against its address once', async (t) => {
  const { app, createSale, redis, config } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 100, LOCK_RETRY_COUNT: 3, LOCK_RETRY_DELAY_MS: 10 })
  const saleId = await createSale({ items: 1, stock_per_item: 1 })
  const { code } = (await app.inject({ method: 'POST', url: '/checkout?user_id=u&id=1', remoteAddress: '198.51.100.1' })).json()
  // Another holder has the code's lock for the whole purchase: every try meets it.
  await redis.set(lockResource(config.REDIS_KEY_PREFIX, saleId, code), 'another-holder', 'PX', 10_000)
  const res = await app.inject({ method: 'POST', url: `/purchase?code=${code}`, remoteAddress: '203.0.113.9' })
  t.equal(res.json().error, 'purchase_in_progress')
  const counted = Number(await redis.get(purchaseRateKey(app.sale.catalog.get(saleId)!.shards[0]!, '203.0.113.9')) ?? 0)
  t.ok(counted <= 1, `counted ${counted} time(s) over 4 tries of the lock`)
})

t.test('body size limit, security headers, no internals in errors', async (t) => {
  const { app } = await buildTestApp(t)
  const big = await app.inject({
    method: 'POST',
    url: '/admin/sales',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    payload: JSON.stringify({ items: 1, stock_per_item: 1, pad: 'x'.repeat(64 * 1024) }),
  })
  t.equal(big.statusCode, 413)
  t.equal(big.json().error, 'payload_too_large')
  const bigCheckout = await app.inject({ method: 'POST', url: '/checkout?user_id=a&id=1', payload: 'x'.repeat(64 * 1024), headers: { 'content-type': 'text/plain' } })
  t.ok(bigCheckout.statusCode >= 400 && bigCheckout.statusCode < 500, `a big body on checkout is a 4xx (${bigCheckout.statusCode})`)

  const bad = await app.inject({
    method: 'POST',
    url: '/admin/sales',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    payload: '{"items": ',
  })
  t.equal(bad.statusCode, 400)
  t.notMatch(bad.body, /at \w+ \(|node_modules|\.ts:\d+|stack/, 'no stack trace')

  for (const url of ['/sale', '/nope', '/checkout?user_id=a&id=1']) {
    const res = await app.inject({ method: url === '/sale' ? 'GET' : 'POST', url })
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${url}: nosniff`)
    t.match(res.headers['content-security-policy'], /default-src 'none'/, `${url}: CSP`)
    t.ok(res.headers['strict-transport-security'], `${url}: HSTS`)
    t.equal(res.headers['x-frame-options'], 'SAMEORIGIN', `${url}: framing refused`)
    t.notOk(res.headers['x-powered-by'], `${url}: no x-powered-by`)
  }
})

t.test('/metrics behind a token', async (t) => {
  const token = 'metrics-token-0123456789abcdef'
  const { app, send } = await buildTestApp(t, { METRICS_TOKEN: token })
  t.equal((await app.inject('/metrics')).statusCode, 401)
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer nope' } })).statusCode, 401)
  const metrics = await readMetrics(send, { authorization: `Bearer ${token}` })
  t.ok(metrics.some((s) => s.name === 'flashsale_checkout_attempts_total'), 'the metrics, with the token')
})

t.test('/metrics on a port of its own', async (t) => {
  const port = await freePort()
  const { app } = await buildTestApp(t, { METRICS_PORT: port })
  t.equal((await app.inject('/metrics')).statusCode, 404, 'not on the buyer port')
  const res = await fetch(`http://127.0.0.1:${port}/metrics`)
  t.equal(res.status, 200)
  const names = new Set(parseMetrics(await res.text()).map((s) => s.name))
  t.ok(names.has('flashsale_checkout_attempts_total'), 'the service\'s own metrics')
  t.ok(names.has('nodejs_eventloop_lag_seconds'), 'and the process\'s')
  const other = await fetch(`http://127.0.0.1:${port}/sale`)
  await other.arrayBuffer()
  t.equal(other.status, 404, 'only /metrics there')
})
