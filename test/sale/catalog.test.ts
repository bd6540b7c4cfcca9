import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { SaleCatalog } from '../../src/sale/catalog.ts'
import { saleScripts } from '../../src/sale/scripts.ts'
import { eventually } from '../helpers/eventually.ts'

const HOUR = 3_600_000

t.test('the hourly schedule runs a sale now and creates the next one ahead of time', async (t) => {
  const { app, sql } = await buildTestApp(t, { SALE_SCHEDULE: 'hourly', SALE_ITEMS: 50, SALE_STOCK_PER_ITEM: 2, PER_USER_LIMIT: 4 })
  const sale = (await app.inject('/sale')).json()
  const nextHour = Date.parse(sale.ends_at)
  t.equal(nextHour % HOUR, 0, 'the current sale ends at the top of the hour')
  t.ok(nextHour - Date.now() <= HOUR, 'this hour')
  t.match(sale, { per_user_limit: 4, units_total: 100, units_available: 100 })

  const rows = await sql`SELECT slot, starts_at, ends_at, items FROM sales ORDER BY starts_at`
  t.equal(rows.length, 2, 'this hour and the next')
  t.equal(rows[1]!.starts_at.getTime(), nextHour, 'the next sale starts when this one ends')
  t.equal(rows[1]!.ends_at.getTime(), nextHour + HOUR)
  const [items] = await sql`SELECT count(*)::int AS n FROM items WHERE sale_id = ${sale.sale_id}`
  t.equal(items!.n, 50, 'items are in Postgres with their names and pictures')
  const next = app.sale.catalog.all().find((s) => s.startsAt === nextHour)!
  t.equal(await app.redis.hlen(next.shards[0]!.stock), 50, 'the next sale is already loaded in Redis: the switch is instant')

  // Another instance (or a later refresh) schedules nothing twice.
  await app.sale.tick()
  const [again] = await sql`SELECT count(*)::int AS n FROM sales`
  t.equal(again!.n, 2)
})

t.test('an operator sale is never overridden by the schedule', async (t) => {
  const { app, sql, createSale } = await buildTestApp(t, { SALE_SCHEDULE: 'hourly', SALE_ITEMS: 10 })
  const scheduled = (await app.inject('/sale')).json().sale_id
  const operator = await createSale({ items: 3, stock_per_item: 1, ends_at: new Date(Date.now() + 3 * HOUR).toISOString() })
  t.not(operator, scheduled)
  await app.sale.tick()
  t.equal((await app.inject('/sale')).json().sale_id, operator, 'the operator sale is current')
  const live = await sql`SELECT id::int FROM sales WHERE ends_at > now() AND ends_at > starts_at ORDER BY starts_at`
  t.same(live.map((r) => r.id), [operator], 'the scheduled sales it overlaps gave way, and none was added over it')
})

t.test('a sale lost by Redis is rebuilt from what Postgres knows was sold', async (t) => {
  const { app, createSale, redis } = await buildTestApp(t)
  const saleId = await createSale({ items: 3, stock_per_item: 2, per_user_limit: 5 })
  const { code } = (await app.inject({ method: 'POST', url: '/checkout?user_id=ann&id=2' })).json()
  await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
  await app.inject({ method: 'POST', url: '/checkout?user_id=bob&id=3' })

  const keys = app.sale.catalog.get(saleId)!.shards[0]!
  await redis.del(...keys.state)
  await app.sale.tick()
  t.match((await app.inject('/sale')).json(), { units_total: 6, units_sold: 1, units_reserved: 0, units_available: 5 },
    'sold units stay sold; the lost reservation is free again')
  t.equal(await redis.hget(keys.stock, '2'), '1')
  t.equal(await redis.hget(keys.users, 'ann'), '1', 'the buyer still counts what she bought')
})

t.test('operator API validates its input', async (t) => {
  const { app } = await buildTestApp(t)
  const post = (payload: unknown) => app.inject({
    method: 'POST', url: '/admin/sales', headers: { authorization: 'Bearer test-admin-token-0123456789' }, payload: payload as object,
  })
  for (const body of [{}, { items: 0, stock_per_item: 1 }, { items: 1, stock_per_item: 1, extra: 1 }, { items: 1, stock_per_item: 1, starts_at: 'soon' },
    { items: 1, stock_per_item: 1, ends_at: new Date(Date.now() - 1000).toISOString() },
    { items: 1, stock_per_item: 1, starts_at: new Date(Date.now() + 2 * HOUR).toISOString(), ends_at: new Date(Date.now() + HOUR).toISOString() }]) {
    const res = await post(body)
    t.equal(res.statusCode, 400, JSON.stringify(body))
    t.equal(res.json().error, 'invalid_request')
  }
  const scheduled = await post({ items: 2, stock_per_item: 1, starts_at: new Date(Date.now() + HOUR).toISOString() })
  t.equal(scheduled.statusCode, 201, 'a sale can be scheduled ahead')
  t.equal((await app.inject('/sale')).statusCode, 404, 'and is not current before it starts')
})

t.test('a fresh database meets a Redis that served another: its sale 1 starts from its own stock', async (t) => {
  const prefix = `t-shared-${Date.now().toString(36)}`
  const old = await buildTestApp(t, { REDIS_KEY_PREFIX: prefix })
  const oldSale = await old.createSale({ items: 1, stock_per_item: 500, per_user_limit: 1_000 })
  for (let i = 0; i < 499; i++) await old.app.inject({ method: 'POST', url: `/checkout?user_id=old${i % 5}&id=1` })
  await old.app.close()

  // Another database, the same Redis and key prefix: its first sale has the same id.
  const fresh = await buildTestApp(t, { REDIS_KEY_PREFIX: prefix })
  const saleId = await fresh.createSale({ items: 1, stock_per_item: 500, per_user_limit: 1_000 })
  t.equal(saleId, oldSale, 'the same sale id')
  t.match((await fresh.app.inject('/sale')).json(), { units_total: 500, units_reserved: 0, units_available: 500 })
  const sold = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    fresh.app.inject({ method: 'POST', url: `/checkout?user_id=new${i}&id=1` })))
  t.same(sold.map((r) => r.statusCode), Array(10).fill(200), 'its buyers get units')
  await fresh.app.sale.attempts.drain()
  const [n] = await fresh.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts`
  t.equal(n!.n, 10, 'and none of the other database\'s attempts arrive here')
})

t.test('a sale created while the catalog refreshes is the current sale at once', async (t) => {
  const { app, config, sql, redis } = await buildTestApp(t)
  // The refresh's query has run, without the sale created next, and its answer is held back.
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  let queried!: () => void
  const snapshot = new Promise<void>((resolve) => (queried = resolve))
  const meters = Object.create(app.saleMeters) as typeof app.saleMeters
  meters.db = async (query, run) => {
    const rows = await app.saleMeters.db(query, run)
    if (query === 'sales_recent') {
      queried()
      await held
    }
    return rows
  }
  const catalog = new SaleCatalog({
    config, sql, redis, scripts: saleScripts(redis), locks: app.locks, meters, log: app.log,
  })
  const refreshing = catalog.refresh()
  await snapshot
  const sale = await catalog.create({
    slot: null,
    starts_at: new Date(),
    ends_at: new Date(Date.now() + 60_000),
    per_user_limit: 1,
    reservation_ttl_seconds: 60,
    items: 1,
    stock_per_item: 1,
  })
  release()
  await refreshing
  t.equal(catalog.current()?.id, sale!.id, 'the refresh that began before it does not forget it')
})

t.test('a sale created on one instance is the current sale on the others at once', async (t) => {
  const a = await buildTestApp(t)
  const b = await buildTestApp(t, {
    DATABASE_URL: a.config.DATABASE_URL, REDIS_KEY_PREFIX: a.config.REDIS_KEY_PREFIX, SALE_REFRESH_MS: 60_000,
  })
  t.equal((await b.app.inject({ method: 'POST', url: '/checkout?user_id=early&id=1' })).json().error, 'sale_not_active')
  const saleId = await a.createSale({ items: 3, stock_per_item: 1 })
  const created = Date.now()
  // B's own refresh is a minute away: its checkouts read the catalog again themselves.
  const res = await eventually('a checkout on the other instance served', async () => {
    const r = await b.app.inject({ method: 'POST', url: '/checkout?user_id=other&id=1' })
    return r.statusCode === 200 ? r : undefined
  }, 5_000)
  t.equal(res.json().sale_id, saleId)
  t.ok(Date.now() - created < 1_000, `served ${Date.now() - created} ms after the sale was created elsewhere`)
})
