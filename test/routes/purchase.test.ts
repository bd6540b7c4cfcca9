import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { lockResource } from '../../src/sale/keys.ts'

t.test('purchase commits a reservation once and answers replays with the same purchase', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t)
  const saleId = await createSale({ items: 2, stock_per_item: 1 })
  const { code } = (await app.inject({ method: 'POST', url: '/checkout?user_id=alice&id=2' })).json()

  const first = await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
  t.equal(first.statusCode, 200)
  const bought = first.json()
  t.same({ ...bought, purchase_id: 'x' }, { status: 'purchased', purchase_id: 'x', item_id: 2, user_id: 'alice', sale_id: saleId })

  const again = await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
  t.equal(again.statusCode, 200)
  t.equal(again.json().purchase_id, bought.purchase_id, 'same purchase_id on replay')

  const rows = await sql`SELECT id::text, code, item_id, user_id FROM purchases`
  t.same(rows.map((r) => ({ ...r })), [{ id: bought.purchase_id, code, item_id: 2, user_id: 'alice' }])

  const sale = (await app.inject({ method: 'GET', url: '/sale' })).json()
  t.match(sale, { units_total: 2, units_sold: 1, units_reserved: 0, units_available: 1 })
})

t.test('purchase answers unknown, malformed and expired codes', async (t) => {
  const { app, createSale } = await buildTestApp(t)
  const saleId = await createSale({ items: 1, stock_per_item: 1, reservation_ttl_seconds: 1 })

  const unknown = await app.inject({ method: 'POST', url: `/purchase?code=${saleId}-${'0'.repeat(32)}` })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().error, 'code_not_found')

  for (const url of ['/purchase', '/purchase?code=', '/purchase?code=nope', `/purchase?code=${saleId}-XYZ`]) {
    const bad = await app.inject({ method: 'POST', url })
    t.equal(bad.statusCode, 400, url)
    t.equal(bad.json().error, 'invalid_request', url)
  }

  const { code } = (await app.inject({ method: 'POST', url: '/checkout?user_id=bob&id=1' })).json()
  // The sweeper returns the unit once the reservation expires; poll until it has.
  await eventually('the expired unit back in stock', async () => (await app.inject({ method: 'GET', url: '/sale' })).json().units_available === 1)
  const late = await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
  t.equal(late.statusCode, 410)
  t.equal(late.json().error, 'code_expired')
})

t.test('50 concurrent purchases of one code give one row and one purchase_id', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t, { LOCK_RETRY_COUNT: 20, LOCK_RETRY_DELAY_MS: 20 })
  await createSale({ items: 1, stock_per_item: 1 })
  const { code } = (await app.inject({ method: 'POST', url: '/checkout?user_id=carol&id=1' })).json()

  const replies = await Promise.all(
    Array.from({ length: 50 }, () => app.inject({ method: 'POST', url: `/purchase?code=${code}` }))
  )
  const ok = replies.filter((r) => r.statusCode === 200).map((r) => r.json().purchase_id)
  const busy = replies.filter((r) => r.statusCode === 409)
  t.equal(ok.length + busy.length, 50, 'every answer is a purchase or purchase_in_progress')
  t.ok(ok.length >= 1, 'at least one purchase answered')
  t.equal(new Set(ok).size, 1, 'one purchase_id across all answers')
  for (const r of busy) t.equal(r.json().error, 'purchase_in_progress')
  t.ok(busy.every((r) => Number(r.headers['retry-after']) >= 1), 'purchase_in_progress carries Retry-After')
  const [row] = await sql`SELECT count(*)::int AS n FROM purchases WHERE code = ${code}`
  t.equal(row?.n, 1, 'exactly one purchase row')
})

t.test('double submits in a storm: every duplicate gets the first commit\'s purchase_id', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 0, RATE_LIMIT_USER_MAX: 0 })
  await createSale({ items: 500, stock_per_item: 1, per_user_limit: 500 })
  const codes: string[] = []
  for (let i = 0; i < 500; i++) codes.push((await app.inject({ method: 'POST', url: `/checkout?user_id=u${i}&id=${i + 1}` })).json().code)
  // Each code sent three times at once, 150 requests in flight.
  const sends = codes.flatMap((code) => [code, code, code])
  const answers: { code: string; status: number; id: string }[] = []
  let next = 0
  await Promise.all(Array.from({ length: 150 }, async () => {
    while (next < sends.length) {
      const code = sends[next++]!
      const res = await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
      answers.push({ code, status: res.statusCode, id: res.statusCode === 200 ? res.json().purchase_id : '' })
    }
  }))
  const ok = answers.filter((a) => a.status === 200)
  t.equal(ok.length, sends.length, `every submit answered 200 (${sends.length - ok.length} were not)`)
  const ids = new Map<string, Set<string>>()
  for (const a of ok) ids.set(a.code, (ids.get(a.code) ?? new Set()).add(a.id))
  t.ok([...ids.values()].every((s) => s.size === 1), 'one purchase_id per code')
  const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM purchases`
  t.equal(row!.n, 500, 'one row per code')
})

t.test('a code whose lock another holder keeps: 409 purchase_in_progress with Retry-After', async (t) => {
  const { app, createSale, config } = await buildTestApp(t, { LOCK_RETRY_COUNT: 1, LOCK_RETRY_DELAY_MS: 10 })
  const saleId = await createSale({ items: 1, stock_per_item: 1 })
  const { code } = (await app.inject({ method: 'POST', url: '/checkout?user_id=dora&id=1' })).json()
  // Another process's purchase of the code (or its crashed holder's lock, until the ttl ends).
  const busy = await app.locks.withLock('purchase', lockResource(config.REDIS_KEY_PREFIX, saleId, code), () =>
    app.inject({ method: 'POST', url: `/purchase?code=${code}` }))
  t.equal(busy.statusCode, 409)
  t.equal(busy.json().error, 'purchase_in_progress')
  t.equal(busy.headers['retry-after'], '1', 'retry in a second: the holder finishes, or its lock ends')
  t.equal((await app.inject({ method: 'POST', url: `/purchase?code=${code}` })).statusCode, 200, 'the retry buys')
})
