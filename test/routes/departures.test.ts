import t from 'tap'
import { once } from 'node:events'
import { connect } from 'node:net'
import { readMetrics } from '../../kit/operator-client.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { series, total } from '../helpers/metrics.ts'
import { startRedis } from '../helpers/redis-server.ts'

/**
 * A buyer who closes the connection before the answer is not an error of the service: the
 * attempt is `abandoned`, and the route histogram still has the request, as status 499.
 */
t.test('a checkout and a purchase whose client left: abandoned, not errors, and 499 in the route histogram', async (t) => {
  const node = await startRedis(t)
  const { app, sql, send, createSale } = await buildTestApp(t, {
    REDIS_URL: node.url, REDLOCK_REDIS_URLS: [node.url], RATE_LIMIT_IP_MAX: 0, RATE_LIMIT_USER_MAX: 0,
  })
  const saleId = await createSale({ items: 5, stock_per_item: 5, per_user_limit: 5 })
  const { code } = (await app.inject({ method: 'POST', url: '/checkout?user_id=stays&id=1' })).json()
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = new URL(address)

  const metric = async (name: string, labels: Record<string, string>) => total(await readMetrics(send), name, labels)
  /** Sends a buyer request to a hung Redis, and closes the connection once the service has it. */
  const leave = async (path: string) => {
    node.pause()
    const received = once(app.server, 'request')
    const socket = connect(Number(port), '127.0.0.1')
    socket.on('error', () => {})
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`)
    await received
    socket.destroy()
    // Redis answers only once the service has seen the client go.
    const route = path.split('?')[0]!
    await eventually(`the departure from ${route} seen`, async () =>
      (await metric('http_request_duration_seconds_count', { route, status_code: '499' })) === 1)
    node.resume()
  }

  await leave('/checkout?user_id=gone&id=2')
  await eventually('the checkout counted as abandoned', async () =>
    (await metric('flashsale_checkout_attempts_total', { result: 'abandoned' })) === 1)
  await leave(`/purchase?code=${code}`)
  await eventually('the purchase counted as abandoned', async () =>
    (await metric('flashsale_purchase_attempts_total', { result: 'abandoned' })) === 1)

  const samples = await readMetrics(send)
  t.equal(series(samples, 'flashsale_checkout_attempts_total', { result: 'error' }), 0, 'no checkout error')
  t.equal(series(samples, 'flashsale_purchase_attempts_total', { result: 'error' }), 0, 'no purchase error')
  for (const route of ['/checkout', '/purchase']) {
    t.equal(series(samples, 'http_request_duration_seconds_count', { route, status_code: '499' }), 1, `${route}: one 499 observed`)
    t.equal(series(samples, 'http_request_duration_seconds_count', { route, status_code: '503' }), undefined, `${route}: no 503`)
  }
  const rows = await eventually('the abandoned checkout recorded', async () => {
    const found = await sql`SELECT result FROM checkout_attempts WHERE sale_id = ${saleId} AND user_id = 'gone'`
    return found.length > 0 ? found : undefined
  })
  t.same(rows.map((r) => r.result), ['abandoned'], 'stored as abandoned, once')
  const left = await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
  t.equal(left.statusCode, 200, 'the reservation is still the buyer\'s to buy')
})

t.test('a purchase with a malformed code is counted as invalid', async (t) => {
  const { app, send } = await buildTestApp(t)
  for (const url of ['/purchase', '/purchase?code=', '/purchase?code=not%20a%20code']) {
    const r = await app.inject({ method: 'POST', url })
    t.equal(r.statusCode, 400, url)
    t.equal(r.json().error, 'invalid_request', url)
  }
  t.equal(series(await readMetrics(send), 'flashsale_purchase_attempts_total', { result: 'invalid' }), 3)
})
