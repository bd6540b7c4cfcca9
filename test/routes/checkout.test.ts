import t from 'tap'
import { buildTestApp, eventually } from '../helpers/app.js'

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
  const rows = await eventually(async () => {
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
