import t from 'tap'
import { ADMIN_TOKEN, buildTestApp } from '../helpers/app.ts'

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` }

t.test('GET /admin/sales/:id/purchases exports every purchase as CSV or NDJSON', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t)
  const saleId = await createSale({ items: 3, stock_per_item: 2, per_user_limit: 10 })
  const bought: { purchase_id: string; code: string; item_id: number; user_id: string }[] = []
  for (const [user, item] of [['ann', 1], ['bob', 2], ['ann', 3], ['cy', 1]] as const) {
    const { code } = (await app.inject({ method: 'POST', url: `/checkout?user_id=${user}&id=${item}` })).json()
    const p = (await app.inject({ method: 'POST', url: `/purchase?code=${code}` })).json()
    bought.push({ purchase_id: p.purchase_id, code, item_id: item, user_id: user })
  }
  await app.inject({ method: 'POST', url: '/checkout?user_id=dee&id=2' }) // reserved, not bought: not exported
  const times = new Map((await sql`SELECT id::text, created_at FROM purchases`).map((r) => [r.id as string, (r.created_at as Date).toISOString()]))

  const csv = await app.inject({ url: `/admin/sales/${saleId}/purchases`, headers: { ...auth, accept: 'text/csv' } })
  t.equal(csv.statusCode, 200)
  t.match(csv.headers['content-type'], /^text\/csv/)
  t.match(csv.headers['content-disposition'], `attachment; filename="sale-${saleId}-purchases.csv"`)
  t.same(csv.body.split('\r\n'), [
    'purchase_id,code,sale_id,item_id,user_id,created_at',
    ...bought.map((b) => `${b.purchase_id},${b.code},${saleId},${b.item_id},${b.user_id},${times.get(b.purchase_id)}`),
    '',
  ], 'a header, then every purchase in the order made')
  const byDefault = await app.inject({ url: `/admin/sales/${saleId}/purchases`, headers: auth })
  t.equal(byDefault.body, csv.body, 'CSV without Accept')

  const nd = await app.inject({ url: `/admin/sales/${saleId}/purchases`, headers: { ...auth, accept: 'application/x-ndjson' } })
  t.equal(nd.headers['content-type'], 'application/x-ndjson')
  const lines = nd.body.trimEnd().split('\n').map((l) => JSON.parse(l))
  t.same(lines, bought.map((b) => ({ ...b, sale_id: saleId, created_at: times.get(b.purchase_id) })))

  const empty = await createSale({ items: 1, stock_per_item: 1 })
  const none = await app.inject({ url: `/admin/sales/${empty}/purchases`, headers: { ...auth, accept: 'application/ndjson' } })
  t.same([none.statusCode, none.body], [200, ''], 'a sale without purchases: an empty export')

  const missing = await app.inject({ url: '/admin/sales/31337/purchases', headers: auth })
  t.same([missing.statusCode, missing.json().error], [404, 'sale_not_found'])
  const bad = await app.inject({ url: '/admin/sales/1e3/purchases', headers: auth })
  t.same([bad.statusCode, bad.json().error], [400, 'invalid_request'])
  const refused = await app.inject({ url: `/admin/sales/${saleId}/purchases` })
  t.equal(refused.statusCode, 401)
  t.notMatch(refused.body, bought[0]!.code, 'nothing exported without a token')
})

t.test('an export gives its connection back, statement timeout restored, even when the client goes away', async (t) => {
  const { app, createSale, sql, config } = await buildTestApp(t, { DB_POOL_MAX: 2 })
  const saleId = await createSale({ items: 1, stock_per_item: 1 })
  await sql`INSERT INTO purchases (code, sale_id, item_id, user_id) SELECT 'x' || g, ${saleId}, 1, 'u' || g FROM generate_series(1, 20000) g`
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  for (let i = 0; i < 4; i++) {
    const controller = new AbortController()
    const res = await fetch(`${address}/admin/sales/${saleId}/purchases`, { headers: auth, signal: controller.signal })
    const reader = res.body!.getReader()
    await reader.read()
    controller.abort()
    await reader.closed.catch(() => {})
  }
  // With a pool of two, four abandoned exports that kept their connections would leave none.
  const full = await fetch(`${address}/admin/sales/${saleId}/purchases`, { headers: auth })
  t.equal((await full.text()).split('\r\n').length - 2, 20_000, 'a full export after them')
  // Both of the pool's connections, one after the other held.
  const held = [await app.sql.reserve(), await app.sql.reserve()]
  t.teardown(() => held.forEach((c) => c.release()))
  const seen = await Promise.all(held.map(async (c) => (await c`SELECT current_setting('statement_timeout') AS s, pg_backend_pid() AS pid`)[0]!))
  t.equal(new Set(seen.map((r) => r.pid)).size, 2, 'two connections')
  for (const r of seen) t.equal(r.s, `${config.DB_STATEMENT_TIMEOUT_MS / 1000}s`, 'each keeps its statement timeout')
})
