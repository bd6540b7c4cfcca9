import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'

// Every guarantee holds exactly with one shard and with a sale spread over three. The bursts below
// land in one process at once and are answered in lockstep, so on a slow machine the last of
// them can pass the 1 s request deadline and be answered 503; these tests are about exact counts,
// and the deadline has tests of its own (test/faults/redis-hang.test.ts), so they wait longer.
const BURST = { REQUEST_DEADLINE_MS: 30_000 }

for (const shards of [1, 3]) {
  t.test(`2,000 concurrent checkouts of 100 units give exactly 100 reservations (SALE_SHARDS=${shards})`, async (t) => {
    const { app, createSale, sql } = await buildTestApp(t, { ...BURST, SALE_SHARDS: shards })
    const saleId = await createSale({ items: 10, stock_per_item: 10, per_user_limit: 1 })
    const replies = await Promise.all(
      Array.from({ length: 2_000 }, (_, i) =>
        app.inject({ method: 'POST', url: `/checkout?user_id=buyer-${i}&id=${(i % 10) + 1}` }))
    )
    const byStatus = new Map<number, number>()
    for (const r of replies) byStatus.set(r.statusCode, (byStatus.get(r.statusCode) ?? 0) + 1)
    t.same(Object.fromEntries(byStatus), { 200: 100, 409: 1_900 })
    const codes = new Set(replies.filter((r) => r.statusCode === 200).map((r) => r.json().code))
    t.equal(codes.size, 100, 'every reservation has its own code')

    const sale = (await app.inject({ method: 'GET', url: '/sale' })).json()
    t.match(sale, { units_total: 100, units_reserved: 100, units_available: 0 })

    await app.sale.attempts.drain()
    const [row] = await sql`SELECT count(*)::int AS n, count(*) FILTER (WHERE result = 'success')::int AS ok
      FROM checkout_attempts WHERE sale_id = ${saleId}`
    t.same({ ...row }, { n: 2_000, ok: 100 }, 'every attempt is persisted')
  })

  t.test(`one item with stock 10,000 sells like 10,000 items of one unit (SALE_SHARDS=${shards})`, async (t) => {
    const { app, createSale } = await buildTestApp(t, { ...BURST, SALE_SHARDS: shards })
    await createSale({ items: 1, stock_per_item: 10_000, per_user_limit: 1 })
    const replies = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => app.inject({ method: 'POST', url: `/checkout?user_id=b${i}&id=1` }))
    )
    t.equal(replies.filter((r) => r.statusCode === 200).length, 1_000)
    const items = (await app.inject({ method: 'GET', url: '/sale/items' })).json()
    t.same(items.items.map((i: { stock: number; available: number }) => [i.stock, i.available]), [[10_000, 9_000]])
  })

  t.test(`30 concurrent checkouts by one user give exactly the per-user limit (SALE_SHARDS=${shards})`, async (t) => {
    const { app, createSale } = await buildTestApp(t, { SALE_SHARDS: shards })
    await createSale({ items: 50, stock_per_item: 1, per_user_limit: 7 })
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => app.inject({ method: 'POST', url: `/checkout?user_id=greedy&id=${i + 1}` }))
    )
    t.equal(replies.filter((r) => r.statusCode === 200).length, 7)
    const limited = replies.filter((r) => r.statusCode === 429)
    t.equal(limited.length, 23)
    for (const r of limited) t.equal(r.json().error, 'user_limit_reached')
  })

  t.test(`purchases count against the limit; expired reservations return units and free the user (SALE_SHARDS=${shards})`, async (t) => {
    const { app, createSale } = await buildTestApp(t, { SALE_SHARDS: shards })
    await createSale({ items: 3, stock_per_item: 1, per_user_limit: 2, reservation_ttl_seconds: 1 })
    const a = (await app.inject({ method: 'POST', url: '/checkout?user_id=u&id=1' })).json()
    await app.inject({ method: 'POST', url: `/purchase?code=${a.code}` })
    await app.inject({ method: 'POST', url: '/checkout?user_id=u&id=2' })
    t.equal((await app.inject({ method: 'POST', url: '/checkout?user_id=u&id=3' })).statusCode, 429, 'bought + reserved = limit')

    await eventually('no unit reserved', async () => (await app.inject({ method: 'GET', url: '/sale' })).json().units_reserved === 0)
    const sale = (await app.inject({ method: 'GET', url: '/sale' })).json()
    t.match(sale, { units_sold: 1, units_reserved: 0, units_available: 2 })
    const again = await app.inject({ method: 'POST', url: '/checkout?user_id=u&id=2' })
    t.equal(again.statusCode, 200, 'the expired unit is back and the user may reserve again')
    t.equal((await app.inject({ method: 'POST', url: '/checkout?user_id=u&id=3' })).statusCode, 429, 'the purchase still counts')
  })
}
