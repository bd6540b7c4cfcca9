import t from 'tap'
import { connect, type AddressInfo } from 'node:net'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'

t.test('checkout reserves a unit and answers every failure with its code', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t)
  const saleId = await createSale({ items: 3, stock_per_item: 1, per_user_limit: 2 })

  const ok = await app.inject({ method: 'POST', url: '/checkout?user_id=alice&id=1' })
  t.equal(ok.statusCode, 200)
  const body = ok.json()
  t.equal(body.item_id, 1)
  t.equal(body.sale_id, saleId)
  t.match(body.code, new RegExp(`^${saleId}-[0-9a-f]{32}$`))
  t.ok(Date.parse(body.expires_at) > Date.now(), 'expires in the future')

  const sold = await app.inject({ method: 'POST', url: '/checkout?user_id=bob&id=1' })
  t.equal(sold.statusCode, 409)
  t.same(sold.json().error, 'sold_out')

  const missing = await app.inject({ method: 'POST', url: '/checkout?user_id=bob&id=99' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'item_not_found')

  await app.inject({ method: 'POST', url: '/checkout?user_id=alice&id=2' })
  const limit = await app.inject({ method: 'POST', url: '/checkout?user_id=alice&id=3' })
  t.equal(limit.statusCode, 429)
  t.equal(limit.json().error, 'user_limit_reached')
  t.ok(limit.headers['retry-after'], 'carries Retry-After')

  for (const url of ['/checkout?user_id=bad!&id=1', '/checkout?user_id=a&id=0', '/checkout?id=1', '/checkout?user_id=a&id=x']) {
    const bad = await app.inject({ method: 'POST', url })
    t.equal(bad.statusCode, 400, url)
    t.equal(bad.json().error, 'invalid_request', url)
  }

  await app.sale.tick()
  const rows = await eventually('the nine attempts in Postgres', async () => {
    const r = await sql`SELECT result, count(*)::int AS n FROM checkout_attempts GROUP BY result ORDER BY result`
    return r.reduce((n, x) => n + x.n, 0) === 9 ? r : undefined
  })
  t.same(Object.fromEntries(rows.map((r) => [r.result, r.n])), {
    invalid: 4, item_not_found: 1, sold_out: 1, success: 2, user_limit: 1,
  })
  const [invalid] = await sql`SELECT count(*)::int AS n FROM checkout_attempts WHERE result = 'invalid' AND sale_id = ${saleId}`
  t.equal(invalid!.n, 4, 'invalid attempts belong to the sale they were made in')
  const [first] = await sql`SELECT sale_id::int, user_id, item_id::int, result, code, created_at
    FROM checkout_attempts WHERE code = ${body.code}`
  t.match({ ...first }, { sale_id: saleId, user_id: 'alice', item_id: 1, result: 'success', code: body.code })
  t.ok(Math.abs(first!.created_at.getTime() - Date.now()) < 60_000, 'stamped with the time of the attempt')
})

/** One raw HTTP/1.1 request on a connection of its own; resolves with the status and body. */
async function raw (port: number, head: string, body = ''): Promise<{ status: number; body: string }> {
  const socket = connect(port, '127.0.0.1')
  // Written, not ended: a half-closed connection gets no answer. `Connection: close` ends it.
  socket.write(`${head}\r\nHost: localhost\r\nConnection: close\r\n\r\n${body}`)
  let text = ''
  for await (const chunk of socket) text += chunk
  const [headers = '', ...rest] = text.split('\r\n\r\n')
  const chunked = /transfer-encoding: chunked/i.test(headers)
  const payload = rest.join('\r\n\r\n')
  return { status: Number(headers.split(' ')[1]), body: chunked ? payload.split('\r\n').filter((_, i) => i % 2 === 1).join('') : payload }
}

t.test('buyer routes ignore any body and content type: every shape is answered and its attempt stored', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 0, RATE_LIMIT_USER_MAX: 0 })
  await createSale({ items: 10, stock_per_item: 5 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const shapes: [string, string, string][] = [
    ['json-no-body', 'Content-Type: application/json\r\nContent-Length: 0', ''],
    ['json-no-length', 'Content-Type: application/json', ''],
    ['form-no-body', 'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0', ''],
    ['empty-type', 'Content-Type: \r\nContent-Length: 0', ''],
    ['chunked-empty', 'Content-Type: application/json\r\nTransfer-Encoding: chunked', '0\r\n\r\n'],
    ['json-object', 'Content-Type: application/json\r\nContent-Length: 2', '{}'],
    ['broken-json', 'Content-Type: application/json\r\nContent-Length: 1', '{'],
    ['text-body', 'Content-Type: text/plain\r\nContent-Length: 5', 'hello'],
    ['no-type-body', 'Content-Length: 3', 'abc'],
  ]
  for (const [i, [user, headers, body]] of shapes.entries()) {
    const checkout = await raw(port, `POST /checkout?user_id=${user}&id=${i + 1} HTTP/1.1\r\n${headers}`, body)
    t.equal(checkout.status, 200, `checkout ${user}: ${checkout.body}`)
    const { code } = JSON.parse(checkout.body)
    const purchase = await raw(port, `POST /purchase?code=${code} HTTP/1.1\r\n${headers}`, body)
    t.equal(purchase.status, 200, `purchase ${user}: ${purchase.body}`)
    t.equal(JSON.parse(purchase.body).user_id, user)
  }
  await app.sale.attempts.drain()
  const rows = await sql<{ user_id: string; result: string }[]>`SELECT user_id, result FROM checkout_attempts ORDER BY id`
  t.same(rows.map((r) => [r.user_id, r.result]), shapes.map(([user]) => [user, 'success']), 'each attempt stored')
})

t.test('contest clients: item_id for id, bare codes as text, strict decimal ids', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 0, RATE_LIMIT_USER_MAX: 0 })
  await createSale({ items: 20, stock_per_item: 5 })
  const post = (url: string, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, headers })

  const alias = await post('/checkout?user_id=go&item_id=2')
  t.equal(alias.statusCode, 200)
  t.equal(alias.json().item_id, 2, 'item_id names the item')
  t.equal((await post('/checkout?user_id=go&id=3&item_id=3')).json().item_id, 3, 'both, naming the same item')
  const both = await post('/checkout?user_id=go&id=3&item_id=4')
  t.equal(both.statusCode, 400, 'both, naming different items')
  t.match(both.json(), { error: 'invalid_request', message: /id and item_id/ })

  const text = await post('/checkout?user_id=txt&id=5', { accept: 'text/plain' })
  t.equal(text.statusCode, 200)
  t.match(text.headers['content-type'], /^text\/plain/)
  t.match(text.body, /^\d+-[0-9a-f]{32}$/, 'the bare code')
  const bought = await post(`/purchase?code=${text.body}`, { accept: 'text/plain' })
  t.equal(bought.statusCode, 200)
  t.equal(bought.body, '', 'an empty 200')
  t.match((await post('/checkout?user_id=txt&id=5', { accept: 'application/json, text/plain, */*' })).json(), { item_id: 5 },
    'JSON when JSON is acceptable too')
  const refused = await post('/checkout?user_id=txt&id=999', { accept: 'text/plain' })
  t.same([refused.statusCode, refused.json().error], [404, 'item_not_found'], 'errors stay JSON')

  for (const id of ['0x10', '1e1', '%207', '7%20', '+7', '07', '1.0', '-1', '9'.repeat(16)]) {
    const res = await post(`/checkout?user_id=strict&id=${id}`)
    t.equal(res.statusCode, 400, `id=${id}`)
  }
  for (const q of ['offset=0x1', 'limit=1e2', 'offset=%201']) {
    t.equal((await app.inject(`/sale/items?${q}`)).statusCode, 400, q)
  }
  await app.sale.attempts.drain()
  const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts WHERE user_id = 'strict' AND result = 'invalid'`
  t.equal(row!.n, 9, 'each refused id is a stored invalid attempt')
})

t.test('an invalid checkout keeps the item and user values as sent, bounded and storable, beside the NULL ids', async (t) => {
  const { app, sql, createSale } = await buildTestApp(t)
  const saleId = await createSale({ items: 3, stock_per_item: 1 })
  const sent = [
    ['user_id=ann&id=item_7', { user_id: 'ann', item_id: null, item_sent: 'item_7', user_sent: 'ann' }],
    ['user_id=b%00b!&id=1', { user_id: 'b\uFFFDb!', item_id: 1, item_sent: '1', user_sent: 'b\uFFFDb!' }],
    ['user_id=cy&id=2&item_id=3', { user_id: 'cy', item_id: 2, item_sent: 'id=2&item_id=3', user_sent: 'cy' }],
    ['user_id=dee&id=1&id=2', { user_id: 'dee', item_id: null, item_sent: '1,2', user_sent: 'dee' }],
    [`user_id=eve&id=${'9'.repeat(1_000)}`, { user_id: 'eve', item_id: null, item_sent: `${'9'.repeat(255)}\u2026`, user_sent: 'eve' }],
    ['id=4', { user_id: null, item_id: 4, item_sent: '4', user_sent: null }],
  ] as const
  for (const [query] of sent) t.equal((await app.inject({ method: 'POST', url: `/checkout?${query}` })).statusCode, 400, query)
  const valid = await app.inject({ method: 'POST', url: '/checkout?user_id=fay&id=3' })
  t.equal(valid.statusCode, 200)
  await app.sale.attempts.drain()
  const rows = await sql`
    SELECT user_id, item_id::int, item_sent, user_sent FROM checkout_attempts
    WHERE sale_id = ${saleId} AND result = 'invalid' ORDER BY id`
  t.same(rows.map((r) => ({ ...r })), sent.map(([, row]) => row), 'each invalid attempt with what it sent')
  const [ok] = await sql`SELECT item_sent, user_sent FROM checkout_attempts WHERE user_id = 'fay'`
  t.same({ ...ok }, { item_sent: null, user_sent: null }, 'a valid attempt keeps its ids only')
})
