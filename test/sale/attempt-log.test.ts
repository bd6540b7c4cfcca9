import t from 'tap'
import postgres from 'postgres'
import { buildTestApp, eventually } from '../helpers/app.js'
import { proxyTarget, startProxy, viaProxy } from '../helpers/fault-processes.js'
import { createTestDatabase } from '../helpers/services.js'

t.test('the attempt log survives Postgres being unreachable and catches up after', async (t) => {
  const db = await createTestDatabase()
  t.teardown(db.drop)
  const proxy = await startProxy(t, proxyTarget(db.url))
  const { app, createSale } = await buildTestApp(t, { DATABASE_URL: viaProxy(db.url, proxy), DB_STATEMENT_TIMEOUT_MS: 1_000 })
  const sql = postgres(db.url, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  const saleId = await createSale({ items: 50, stock_per_item: 1 })

  await proxy.cut()
  const replies = await Promise.all(
    Array.from({ length: 200 }, (_, i) => app.inject({ method: 'POST', url: `/checkout?user_id=p${i}&id=${(i % 60) + 1}` })),
  )
  t.same(
    [...new Set(replies.map((r) => r.statusCode))].sort(),
    [200, 404, 409],
    'checkout goes on while Postgres is down',
  )
  const bad = await app.inject({ method: 'POST', url: '/checkout?user_id=!!&id=1' })
  t.equal(bad.statusCode, 400)
  t.ok(await app.sale.attempts.backlog() >= 201, 'attempts wait in Redis and in the buffer')

  await proxy.restore()
  const rows = await eventually(async () => {
    const [r] = await sql`SELECT count(*)::int AS n FROM checkout_attempts`
    return r!.n >= 201 ? r!.n : undefined
  }, 20_000)
  t.equal(rows, 201, 'every attempt arrives exactly once')
  const [bySale] = await sql`SELECT count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId}`
  t.equal(bySale!.n, 201, 'the invalid one too belongs to the sale')
  t.equal(await app.sale.attempts.backlog(), 0, 'nothing left behind')
})

t.test('attempts delivered twice are stored once', async (t) => {
  const { app, createSale, sql, redis } = await buildTestApp(t)
  const saleId = await createSale({ items: 1, stock_per_item: 1 })
  await app.inject({ method: 'POST', url: '/checkout?user_id=x&id=1' })
  await app.sale.attempts.drain()
  // Replay the same stream entry as if its acknowledgement had been lost.
  const [first] = await sql`SELECT stream_id FROM checkout_attempts`
  const id = first!.stream_id as string
  const key = app.sale.catalog.get(saleId)!.keys.log
  await redis.xadd(key, '9999999999999-0', 'a', `x|1|success||${Date.now()}`)
  await sql`UPDATE checkout_attempts SET stream_id = '9999999999999-0' WHERE stream_id = ${id}`
  await app.sale.attempts.drain()
  const [n] = await sql`SELECT count(*)::int AS n FROM checkout_attempts`
  t.equal(n!.n, 1)
})

t.test('a sale that ended long ago is still drained, its backlog in full', async (t) => {
  const { app, createSale, sql, redis } = await buildTestApp(t, { ATTEMPT_BATCH_SIZE: 500 })
  const saleId = await createSale({ items: 1, stock_per_item: 1 })
  await sql`UPDATE sales SET starts_at = now() - interval '2 hours', ends_at = now() - interval '10 minutes' WHERE id = ${saleId}`
  await app.sale.tick()
  const sale = app.sale.catalog.get(saleId)!
  t.ok(sale.endsAt < Date.now() - 60_000, 'the catalog sees the sale as long over')

  // Entries that turn up in an old sale's stream (left pending by a consumer that died, say):
  // more than one batch of them. Old streams are looked at every few seconds, then drained
  // batch after batch until empty.
  const pipeline = redis.pipeline()
  for (let i = 0; i < 1_800; i++) pipeline.xadd(sale.keys.log, '*', 'a', `late${i}|1|sold_out||${Date.now()}`)
  await pipeline.exec()
  let firstSeen = 0
  await eventually(async () => {
    const [row] = await sql`SELECT count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId}`
    if (row!.n > 0 && firstSeen === 0) firstSeen = Date.now()
    return row!.n === 1_800
  }, 15_000)
  // One batch per visit would take three visits, several seconds apart.
  t.ok(Date.now() - firstSeen < 2_000, `all batches within ${Date.now() - firstSeen} ms of the first`)
  t.equal(await redis.xlen(sale.keys.log), 0, 'the stream is empty')
})
