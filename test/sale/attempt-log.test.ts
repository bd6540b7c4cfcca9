import t from 'tap'
import { readMetrics } from '../../kit/operator-client.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { series } from '../helpers/metrics.ts'
import { testDatabase } from '../helpers/services.ts'
import { startProxy } from '../../kit/tcp-proxy.ts'

t.test('the attempt log survives Postgres being unreachable and catches up after', async (t) => {
  const db = await testDatabase(t)
  const proxy = await startProxy(t, db.url)
  const { app, createSale } = await buildTestApp(t, { DATABASE_URL: proxy.via(db.url), DB_STATEMENT_TIMEOUT_MS: 1_000 })
  const { sql } = db
  const saleId = await createSale({ items: 50, stock_per_item: 1 })

  await proxy.cut()
  const replies = await Promise.all(
    Array.from({ length: 200 }, (_, i) => app.inject({ method: 'POST', url: `/checkout?user_id=p${i}&id=${(i % 60) + 1}` }))
  )
  t.same(
    [...new Set(replies.map((r) => r.statusCode))].sort(),
    [200, 404, 409],
    'checkout goes on while Postgres is down'
  )
  const bad = await app.inject({ method: 'POST', url: '/checkout?user_id=!!&id=1' })
  t.equal(bad.statusCode, 400)
  t.ok(await app.sale.attempts.backlog() >= 201, 'attempts wait in Redis and in the buffer')

  await proxy.restore()
  const rows = await eventually('every attempt in Postgres', async () => {
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
  const { code } = (await app.inject({ method: 'POST', url: '/checkout?user_id=x&id=1' })).json()
  await app.sale.attempts.drain()
  // The same stream entry again, as if its acknowledgement had been lost and it was re-added.
  const key = app.sale.catalog.get(saleId)!.shards[0]!.log
  await redis.xadd(key, '*', 'a', `x|1|success|${code}|${Date.now()}`)
  await app.sale.attempts.drain()
  const rows = await sql`SELECT attempt_key, code FROM checkout_attempts`
  t.same(rows.map((r) => ({ ...r })), [{ attempt_key: code, code }], 'one row, keyed by the attempt')
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
  for (let i = 0; i < 1_800; i++) pipeline.xadd(sale.shards[0]!.log, '*', 'a', `late${i}|1|sold_out||${Date.now()}`)
  await pipeline.exec()
  let firstSeen = 0
  await eventually('the old sale\'s backlog in Postgres', async () => {
    const [row] = await sql`SELECT count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId}`
    if (row!.n > 0 && firstSeen === 0) firstSeen = Date.now()
    return row!.n === 1_800
  }, 15_000)
  // One batch per visit would take three visits, several seconds apart.
  t.ok(Date.now() - firstSeen < 2_000, `all batches within ${Date.now() - firstSeen} ms of the first`)
  t.equal(await redis.xlen(sale.shards[0]!.log), 0, 'the stream is empty')
})

t.test('one unstorable attempt never stops the log: it is made storable, or kept raw in the dead letters', async (t) => {
  const { app, send, createSale, sql, redis } = await buildTestApp(t)
  const saleId = await createSale({ items: 5, stock_per_item: 1 })
  const nul = await app.inject({ method: 'POST', url: '/checkout?user_id=a%00b&id=1' })
  t.equal(nul.statusCode, 400, 'a NUL in the user id is an invalid request')
  // A stream entry Postgres refuses even alone: an item id beyond bigint.
  const log = app.sale.catalog.get(saleId)!.shards[0]!.log
  await redis.xadd(log, '*', 'a', `zed|99999999999999999999|sold_out|${saleId}-${'e'.repeat(32)}|${Date.now()}`)
  for (let i = 0; i < 10; i++) await app.inject({ method: 'POST', url: `/checkout?user_id=u${i}&id=${(i % 6) + 1}` })
  await app.sale.attempts.drain()

  const rows = await sql<{ user_id: string; result: string }[]>`SELECT user_id, result FROM checkout_attempts ORDER BY id`
  t.equal(rows.length, 11, 'the NUL attempt and the ten after it are stored')
  t.equal(rows.filter((r) => r.result === 'invalid')[0]?.user_id, 'a\uFFFDb', 'the NUL is stored as U+FFFD')
  const dead = await sql<{ source: string; raw: Buffer; reason: string }[]>`
    SELECT source, raw, reason FROM checkout_attempts_dead_letter`
  t.equal(dead.length, 1, 'the entry Postgres refuses is a dead letter')
  t.match(dead[0]!.raw.toString(), /99999999999999999999/, 'with its raw fields')
  t.match(dead[0]!.reason, /out of range/, 'and the reason')
  t.match(dead[0]!.source, /^stream /)
  t.equal(await redis.xlen(log), 0, 'the stream is empty: the dead letter is acknowledged too')
  t.equal(series(await readMetrics(send), 'flashsale_attempt_log_dead_letter_total'), 1, 'counted')

  // Delivered again (an acknowledgement lost): still one dead letter.
  await redis.xadd(log, '*', 'a', `zed|99999999999999999999|sold_out|${saleId}-${'e'.repeat(32)}|${Date.now()}`)
  await app.sale.attempts.drain()
  const [again] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts_dead_letter`
  t.equal(again!.n, 1, 'a dead letter is kept once')
})

t.test('a source that keeps failing does not hold back the others', async (t) => {
  const { app, createSale, sql, redis } = await buildTestApp(t)
  const first = await createSale({ items: 5, stock_per_item: 1, ends_at: new Date(Date.now() + 60_000).toISOString() })
  await app.inject({ method: 'POST', url: '/checkout?user_id=early&id=1' })
  // The first sale's stream is replaced by a value of the wrong type: reading it fails every time.
  const broken = app.sale.catalog.get(first)!.shards[0]!.log
  await redis.del(broken)
  await redis.set(broken, 'not a stream')
  const second = await createSale({ items: 5, stock_per_item: 1 })
  await app.inject({ method: 'POST', url: '/checkout?user_id=late&id=1' })
  await app.inject({ method: 'POST', url: '/checkout?user_id=bad!&id=1' })
  await t.rejects(app.sale.attempts.drain(), /WRONGTYPE/, 'the failure is reported')
  // The first sale's attempt may have been drained before its stream broke: only the others count.
  const rows = await sql<{ user_id: string; sale_id: string }[]>`
    SELECT user_id, sale_id FROM checkout_attempts WHERE user_id <> 'early' ORDER BY user_id`
  t.same(rows.map((r) => [r.user_id, Number(r.sale_id)]), [['bad!', second], ['late', second]],
    'the buffer and the healthy stream drained')
})

t.test('a stream read the service gave up on, that Redis ran anyway, is read again at once', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t)
  const saleId = await createSale({ items: 5, stock_per_item: 1 })
  // The first read that hands out entries is answered to Redis's side only: Redis delivered the
  // entries to this consumer, and the service saw a timeout (as when Redis hangs past
  // REDIS_COMMAND_TIMEOUT_MS and then wakes). Whoever reads first, the background drain or this test.
  const redis = app.redis as unknown as { xreadgroup: (...args: unknown[]) => Promise<unknown> }
  const read = redis.xreadgroup.bind(redis)
  let lost = 0
  redis.xreadgroup = async (...args: unknown[]) => {
    const reply = await read(...args)
    if (lost === 0 && reply !== null && (reply as [string, unknown[]][])[0]![1].length > 0) {
      lost++
      throw new Error('Command timed out')
    }
    return reply
  }
  t.teardown(() => { redis.xreadgroup = read })

  t.equal((await app.inject({ method: 'POST', url: '/checkout?user_id=u1&id=1' })).statusCode, 200)
  await eventually('the delivered read lost', async () => lost === 1, 5_000)
  // Well inside the 30 s after which entries pending with a silent consumer are claimed.
  const stored = await eventually('the attempt in Postgres', async () => {
    await app.sale.attempts.drain().catch(() => {})
    const [r] = await sql`SELECT count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId} AND user_id = 'u1'`
    return r!.n > 0 ? r!.n : undefined
  }, 5_000).catch(() => 0)
  t.equal(stored, 1, 'the attempt is stored once, without waiting for it to be claimed as idle')
})

t.test('a stream read the service gave up on, that handed out nothing, hides nothing from the next drain', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t)
  const saleId = await createSale({ items: 5, stock_per_item: 10 })
  // New entries are handed out to no one until the read that is lost on its way to Redis (a
  // command timeout for a command Redis never ran): its consumer then retries its own pending
  // entries, of which there are none, while the attempts below wait in the stream.
  const redis = app.redis as unknown as { xreadgroup: (...args: unknown[]) => Promise<unknown> }
  const read = redis.xreadgroup.bind(redis)
  let state: 'closed' | 'lose-one' | 'open' = 'closed'
  let lost!: () => void
  const lostRead = new Promise<void>((resolve) => { lost = resolve })
  redis.xreadgroup = async (...args: unknown[]) => {
    if (args.at(-1) === '>' && state !== 'open') {
      if (state === 'lose-one') {
        state = 'open'
        lost()
      }
      throw new Error('Command timed out')
    }
    return read(...args)
  }
  t.teardown(() => { redis.xreadgroup = read })

  for (const user of ['u1', 'u2', 'u3']) {
    t.equal((await app.inject({ method: 'POST', url: `/checkout?user_id=${user}&id=1` })).statusCode, 200)
  }
  state = 'lose-one'
  await lostRead
  // Queued behind the background drain whose read was lost: the first drain after it.
  await app.sale.attempts.drain()
  const [r] = await sql`SELECT count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId}`
  t.equal(r!.n, 3, 'the first drain after the lost read stores every attempt recorded before it')
})
