import t from 'tap'
import { ADMIN_TOKEN, buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'

const HOUR = 3_600_000
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` }
const at = (ms: number) => new Date(Date.now() + ms).toISOString()

t.test('every operator route refuses a missing or wrong token, counts it, and says Bearer', async (t) => {
  const { app, createSale } = await buildTestApp(t)
  const saleId = await createSale({ items: 1, stock_per_item: 1 })
  const calls = [
    ['GET', '/admin/sales'], ['GET', `/admin/sales/${saleId}`], ['POST', `/admin/sales/${saleId}/end`],
    ['DELETE', `/admin/sales/${saleId}`], ['GET', `/admin/sales/${saleId}/purchases`], ['GET', '/admin/audit'], ['POST', '/admin/sales'],
  ] as const
  for (const [method, url] of calls) {
    for (const headers of [{}, { authorization: 'Bearer not-the-token-0123456789' }, { authorization: ADMIN_TOKEN }]) {
      const res = await app.inject({ method, url, headers })
      t.equal(res.statusCode, 401, `${method} ${url} ${JSON.stringify(headers)}`)
      t.equal(res.json().error, 'unauthorized')
      t.match(res.headers['www-authenticate'], /^Bearer /)
    }
  }
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, new RegExp(`flashsale_admin_auth_failures_total ${calls.length * 3}\\b`), 'every refusal counted')
  t.equal((await app.inject({ url: `/admin/sales/${saleId}`, headers: auth })).json().sale.state, 'active', 'the sale was left alone')
})

t.test('GET /admin/sales pages every sale, newest first, each in its state', async (t) => {
  const { app, createSale } = await buildTestApp(t)
  const post = (body: object) => app.inject({ method: 'POST', url: '/admin/sales', headers: auth, payload: body })
  const early = (await post({ items: 1, stock_per_item: 1, starts_at: at(2 * HOUR), ends_at: at(3 * HOUR) })).json().sale_id
  const late = (await post({ items: 1, stock_per_item: 1, starts_at: at(5 * HOUR), ends_at: at(6 * HOUR) })).json().sale_id
  const active = await createSale({ items: 2, stock_per_item: 3, ends_at: at(HOUR) })
  t.equal((await app.inject({ method: 'DELETE', url: `/admin/sales/${late}`, headers: auth })).statusCode, 200)
  const ended = await createSale({ items: 1, stock_per_item: 1, ends_at: at(HOUR) })
  t.equal((await app.inject({ method: 'POST', url: `/admin/sales/${ended}/end`, headers: auth })).statusCode, 200)

  const page = (await app.inject({ url: '/admin/sales', headers: auth })).json()
  t.equal(page.total, 4)
  t.same(page.sales.map((s: { sale_id: number; state: string }) => [s.sale_id, s.state]),
    [[late, 'cancelled'], [early, 'scheduled'], [ended, 'ended'], [active, 'ended']], 'newest start first')
  t.match(page.sales[2], { items: 1, units_total: 1, slot: null, shards: 1, created_at: String })
  // `active` ended where `ended` started: a sale starting now supersedes the current one.
  const second = (await app.inject({ url: '/admin/sales?offset=1&limit=2', headers: auth })).json()
  t.same(second.sales.map((s: { sale_id: number }) => s.sale_id), [early, ended])
  t.equal(second.total, 4)

  for (const q of ['limit=0', 'limit=101', 'offset=-1', 'offset=x', 'limit=1.5']) {
    const res = await app.inject({ url: `/admin/sales?${q}`, headers: auth })
    t.equal(res.statusCode, 400, q)
    t.equal(res.json().error, 'invalid_request', q)
  }
})

t.test('GET /admin/sales/:id reports a sale live, then final', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t)
  const saleId = await createSale({ items: 2, stock_per_item: 2, per_user_limit: 5 })
  const checkout = async (user: string, item: number) => (await app.inject({ method: 'POST', url: `/checkout?user_id=${user}&id=${item}` })).json()
  const codes = [await checkout('ann', 1), await checkout('ann', 1), await checkout('bob', 2), await checkout('cy', 2)]
  await checkout('dee', 1) // sold out: both units of item 1 reserved
  await checkout('dee', 9) // no such item
  for (const c of codes.slice(0, 3)) t.equal((await app.inject({ method: 'POST', url: `/purchase?code=${c.code}` })).statusCode, 200)
  await app.sale.attempts.drain()

  const live = (await app.inject({ url: `/admin/sales/${saleId}`, headers: auth })).json()
  t.match(live.sale, { sale_id: saleId, state: 'active', units_total: 4 })
  t.match(live.report, {
    live: true,
    units: { total: 4, sold: 3, reserved: 1, free: 0 },
    attempts: { success: 4, sold_out: 1, item_not_found: 1 },
    attempts_total: 6,
    distinct_buyers: 2,
    purchases: 3,
    reservations: { made: 4, purchased: 3, expired: 0 },
    conversion: 0.75,
    sell_out_seconds: null,
    purchases_per_minute: { peak: 3 },
  })
  t.ok(live.report.purchases_per_minute.average > 0)

  t.equal((await app.inject({ method: 'POST', url: `/admin/sales/${saleId}/end`, headers: auth })).statusCode, 200)
  const final = (await app.inject({ url: `/admin/sales/${saleId}`, headers: auth })).json()
  t.match(final.sale, { state: 'ended' })
  t.match(final.report, {
    live: false,
    units: { total: 4, sold: 3, reserved: 0, free: 1 },
    reservations: { made: 4, purchased: 3, expired: 1 },
    conversion: 0.75,
    sell_out_seconds: null,
  }, 'the reservation left when the sale ended counts as expired, its unit as free')

  // Sold out: time to sell out is from the start to the last unit's purchase.
  const soldOut = await createSale({ items: 1, stock_per_item: 1 })
  const { code } = await checkout('eve', 1)
  await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
  const [row] = await sql`SELECT extract(epoch FROM p.created_at - s.starts_at)::float AS s FROM purchases p JOIN sales s ON s.id = p.sale_id WHERE p.sale_id = ${soldOut}`
  const report = (await app.inject({ url: `/admin/sales/${soldOut}`, headers: auth })).json().report
  t.equal(report.units.sold, 1)
  t.ok(Math.abs(report.sell_out_seconds - row!.s) < 0.002, `sell out after ${report.sell_out_seconds} s`)

  const missing = await app.inject({ url: '/admin/sales/999999', headers: auth })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().error, 'sale_not_found')
  for (const id of ['abc', '0', '-1', '1.5', '1234567890123456']) {
    const res = await app.inject({ url: `/admin/sales/${id}`, headers: auth })
    t.equal(res.statusCode, 400, id)
    t.equal(res.json().error, 'invalid_request', id)
  }
})

t.test('POST /admin/sales/:id/end ends a running sale at once: no checkout, its reservations no longer purchasable', async (t) => {
  const { app, createSale, redis } = await buildTestApp(t)
  const saleId = await createSale({ items: 3, stock_per_item: 5 })
  const held = (await app.inject({ method: 'POST', url: '/checkout?user_id=ann&id=1' })).json()
  const bought = (await app.inject({ method: 'POST', url: '/checkout?user_id=bob&id=1' })).json()
  const purchase = (await app.inject({ method: 'POST', url: `/purchase?code=${bought.code}` })).json()

  const res = await app.inject({ method: 'POST', url: `/admin/sales/${saleId}/end`, headers: auth })
  t.equal(res.statusCode, 200)
  t.match(res.json().sale, { sale_id: saleId, state: 'ended' })
  t.ok(Date.parse(res.json().sale.ends_at) <= Date.now())
  const checkout = await app.inject({ method: 'POST', url: '/checkout?user_id=cy&id=2' })
  t.equal(checkout.statusCode, 409)
  t.equal(checkout.json().error, 'sale_not_active')
  t.equal((await app.inject('/sale')).statusCode, 404, 'no current sale')
  const late = await app.inject({ method: 'POST', url: `/purchase?code=${held.code}` })
  t.equal(late.statusCode, 410, 'a reservation of the ended sale can no longer be bought')
  t.equal(late.json().error, 'code_expired')
  const again = await app.inject({ method: 'POST', url: `/purchase?code=${bought.code}` })
  t.same([again.statusCode, again.json().purchase_id], [200, purchase.purchase_id], 'what was bought stays bought')
  const meta = await redis.hget(app.sale.catalog.get(saleId)!.shards[0]!.meta, 'end')
  t.equal(Number(meta), Date.parse(res.json().sale.ends_at), 'Redis holds the new end')

  for (const [id, code, status] of [[saleId, 'invalid_transition', 409], [999_999, 'sale_not_found', 404]] as const) {
    const r = await app.inject({ method: 'POST', url: `/admin/sales/${id}/end`, headers: auth })
    t.same([r.statusCode, r.json().error], [status, code], `end ${id}`)
  }
  const scheduled = (await app.inject({ method: 'POST', url: '/admin/sales', headers: auth, payload: { items: 1, stock_per_item: 1, starts_at: at(HOUR) } })).json().sale_id
  const r = await app.inject({ method: 'POST', url: `/admin/sales/${scheduled}/end`, headers: auth })
  t.same([r.statusCode, r.json().error], [409, 'invalid_transition'], 'a sale not started cannot be ended')
  t.match(r.json().message, /scheduled/)
  t.equal((await app.inject({ method: 'POST', url: '/admin/sales/x/end', headers: auth })).statusCode, 400)
  const text = await app.inject({ method: 'POST', url: `/admin/sales/${scheduled}/end`, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'now' })
  t.same([text.statusCode, text.json().error], [415, 'unsupported_media_type'], 'JSON bodies only, as everywhere in the operator API')
})

t.test('an ended sale stops taking checkouts on every instance, and a stale catalog cannot reopen it', async (t) => {
  const a = await buildTestApp(t)
  const b = await buildTestApp(t, { DATABASE_URL: a.config.DATABASE_URL, REDIS_KEY_PREFIX: a.config.REDIS_KEY_PREFIX })
  const saleId = await a.createSale({ items: 2, stock_per_item: 10 })
  await b.app.sale.tick()
  t.equal((await b.app.inject({ method: 'POST', url: '/checkout?user_id=ann&id=1' })).statusCode, 200, 'b sells')
  const stale = b.app.sale.catalog.get(saleId)!
  t.ok(stale.endsAt > Date.now(), 'b still believes the sale runs')

  t.equal((await a.app.inject({ method: 'POST', url: `/admin/sales/${saleId}/end`, headers: auth })).statusCode, 200)
  const res = await b.app.inject({ method: 'POST', url: '/checkout?user_id=bob&id=1' })
  t.same([res.statusCode, res.json().error], [409, 'sale_not_active'], 'b refuses at once, before its catalog refreshes')
  // b's refresh read Postgres just before the end and syncs the old window afterwards.
  await b.app.sale.catalog.ensureLoaded(stale)
  const after = await b.app.inject({ method: 'POST', url: '/checkout?user_id=cy&id=2' })
  t.same([after.statusCode, after.json().error], [409, 'sale_not_active'], 'the old window is not written back')
  await eventually('b\'s catalog to learn the end', async () => (await b.app.inject('/sale')).statusCode === 404)
})

t.test('DELETE /admin/sales/:id cancels a sale before it starts: it never starts', async (t) => {
  const { app, createSale, redis, sql } = await buildTestApp(t)
  const startsAt = Date.now() + 1_500
  const created = await app.inject({ method: 'POST', url: '/admin/sales', headers: auth, payload: { items: 1, stock_per_item: 1, starts_at: new Date(startsAt).toISOString(), ends_at: at(HOUR) } })
  const saleId = created.json().sale_id
  const res = await app.inject({ method: 'DELETE', url: `/admin/sales/${saleId}`, headers: auth })
  t.equal(res.statusCode, 200)
  t.match(res.json().sale, { sale_id: saleId, state: 'cancelled' })
  t.equal(res.json().sale.ends_at, res.json().sale.starts_at, 'its window is empty')
  const meta = await redis.hmget(app.sale.catalog.get(saleId)!.shards[0]!.meta, 'start', 'end')
  t.equal(meta[0], meta[1], 'and so is its window in Redis')

  await eventually('its start to pass', async () => Date.now() > startsAt + 100)
  await app.sale.tick()
  const checkout = await app.inject({ method: 'POST', url: '/checkout?user_id=ann&id=1' })
  t.same([checkout.statusCode, checkout.json().error], [409, 'sale_not_active'], 'it never starts')
  t.equal((await app.inject('/sale')).statusCode, 404)
  const [row] = await sql`SELECT ends_at = starts_at AS empty FROM sales WHERE id = ${saleId}`
  t.ok(row!.empty, 'kept, cancelled, in Postgres')

  const again = await app.inject({ method: 'DELETE', url: `/admin/sales/${saleId}`, headers: auth })
  t.same([again.statusCode, again.json().error], [409, 'invalid_transition'], 'a cancelled sale cannot be cancelled again')
  const active = await createSale({ items: 1, stock_per_item: 1 })
  const running = await app.inject({ method: 'DELETE', url: `/admin/sales/${active}`, headers: auth })
  t.same([running.statusCode, running.json().error], [409, 'invalid_transition'], 'a running sale is ended, not cancelled')
  t.match(running.json().message, /active/)
  const missing = await app.inject({ method: 'DELETE', url: '/admin/sales/424242', headers: auth })
  t.same([missing.statusCode, missing.json().error], [404, 'sale_not_found'])
  t.equal((await app.inject({ method: 'DELETE', url: '/admin/sales/0', headers: auth })).statusCode, 400)
})

t.test('the hourly schedule keeps going around an ended or cancelled hour', async (t) => {
  const { app, sql } = await buildTestApp(t, { SALE_SCHEDULE: 'hourly', SALE_ITEMS: 5 })
  const hours = await sql`SELECT id::int FROM sales ORDER BY starts_at`
  t.equal(hours.length, 2, 'this hour and the next')
  const [current, next] = hours.map((r) => r.id as number)
  t.equal((await app.inject({ method: 'DELETE', url: `/admin/sales/${next}`, headers: auth })).statusCode, 200, 'next hour cancelled')
  t.equal((await app.inject({ method: 'POST', url: `/admin/sales/${current}/end`, headers: auth })).statusCode, 200, 'this hour ended')
  await app.sale.tick()
  await app.sale.tick()
  const after = await sql`SELECT id::int, ends_at > starts_at AS open FROM sales ORDER BY id`
  t.same(after.map((r) => [r.id, r.open]), [[current, true], [next, false]], 'neither hour is made again: the operator\'s word stands')
  t.equal((await app.inject({ method: 'POST', url: '/checkout?user_id=ann&id=1' })).json().error, 'sale_not_active')
})

t.test('ending a sale spread over shards closes every shard', async (t) => {
  const { app, createSale, redis } = await buildTestApp(t, { SALE_SHARDS: 3 })
  const saleId = await createSale({ items: 30, stock_per_item: 3, per_user_limit: 100 })
  const sale = app.sale.catalog.get(saleId)!
  t.equal(sale.shards.length, 3)
  t.equal((await app.inject({ method: 'POST', url: '/checkout?user_id=ann&id=1' })).statusCode, 200)
  const res = await app.inject({ method: 'POST', url: `/admin/sales/${saleId}/end`, headers: auth })
  t.equal(res.statusCode, 200)
  const end = String(Date.parse(res.json().sale.ends_at))
  t.same(await Promise.all(sale.shards.map((keys) => redis.hget(keys.meta, 'end'))), [end, end, end], 'each shard holds the new end')
  for (let item = 1; item <= 30; item++) {
    const r = await app.inject({ method: 'POST', url: `/checkout?user_id=u${item}&id=${item}` })
    t.equal(r.json().error, 'sale_not_active', `item ${item}`)
  }
})
