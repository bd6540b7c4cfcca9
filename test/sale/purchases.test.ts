import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { Redis } from 'ioredis'
import { saleScripts } from '../../src/sale/scripts.ts'
import { lockResource } from '../../src/sale/keys.ts'
import { TEST_CLUSTER_NODES } from '../helpers/test-redis.ts'

async function reserve (app: Awaited<ReturnType<typeof buildTestApp>>['app'], user: string, item: number) {
  return (await app.inject({ method: 'POST', url: `/checkout?user_id=${user}&id=${item}` })).json() as { code: string; sale_id: number }
}

t.test('a reservation left committing by a crash is settled against Postgres', async (t) => {
  const { app, createSale, sql, redis } = await buildTestApp(t, { COMMIT_LEASE_MS: 1_000 })
  const saleId = await createSale({ items: 3, stock_per_item: 1 })
  const keys = app.sale.catalog.get(saleId)!.shards[0]!

  // Crash after the Postgres commit, before Redis heard of it: the row exists.
  const sold = await reserve(app, 'a', 1)
  await saleScripts(redis).purchaseBegin(keys, sold.code, 1_000)
  const [row] = await sql`INSERT INTO purchases (code, sale_id, item_id, user_id)
    VALUES (${sold.code}, ${saleId}, 1, 'a') RETURNING id::text`
  // Crash before the Postgres commit: no row, reservation still in time.
  const unsold = await reserve(app, 'b', 2)
  await saleScripts(redis).purchaseBegin(keys, unsold.code, 1_000)

  await eventually('the stuck purchase settled and the other reservation kept', async () => {
    const [a, b] = await redis.hmget(keys.res, sold.code, unsold.code)
    return a?.startsWith('S|') && b?.startsWith('R|')
  })
  t.equal((await redis.hget(keys.res, sold.code))!.split('|')[4], row!.id, 'sold with the purchase id Postgres has')
  t.match((await app.inject({ method: 'GET', url: '/sale' })).json(), { units_sold: 1, units_reserved: 1, units_available: 1 })

  const replay = await app.inject({ method: 'POST', url: `/purchase?code=${sold.code}` })
  t.equal(replay.json().purchase_id, row!.id)
  const retry = await app.inject({ method: 'POST', url: `/purchase?code=${unsold.code}` })
  t.equal(retry.statusCode, 200, 'the buyer whose purchase crashed can still buy')
  const [n] = await sql`SELECT count(*)::int AS n FROM purchases`
  t.equal(n!.n, 2)
})

t.test('a committing reservation past its expiry with no row returns its unit', async (t) => {
  const { app, createSale, redis } = await buildTestApp(t, { COMMIT_LEASE_MS: 1_000 })
  const saleId = await createSale({ items: 1, stock_per_item: 1, reservation_ttl_seconds: 1 })
  const keys = app.sale.catalog.get(saleId)!.shards[0]!
  const r = await reserve(app, 'c', 1)
  await saleScripts(redis).purchaseBegin(keys, r.code, 1_000)
  await eventually('the reservation expired', async () => (await redis.hget(keys.res, r.code))?.startsWith('X|'))
  t.match((await app.inject({ method: 'GET', url: '/sale' })).json(), { units_sold: 0, units_reserved: 0, units_available: 1 })
  const late = await app.inject({ method: 'POST', url: `/purchase?code=${r.code}` })
  t.equal(late.statusCode, 410)
})

t.test('a sale that starts now ends the current one; its reservations can no longer be bought', async (t) => {
  const { app, createSale } = await buildTestApp(t)
  const first = await createSale({ items: 2, stock_per_item: 1 })
  const r = await reserve(app, 'd', 1)
  const second = await createSale({ items: 4, stock_per_item: 1 })
  t.not(second, first)
  t.equal((await app.inject({ method: 'GET', url: '/sale' })).json().sale_id, second)
  const late = await app.inject({ method: 'POST', url: `/purchase?code=${r.code}` })
  t.equal(late.statusCode, 410)
  t.equal(late.json().error, 'code_expired')
})

t.test('a purchase of a sale Redis no longer remembers is answered from Postgres', async (t) => {
  const { app, createSale, redis } = await buildTestApp(t)
  const saleId = await createSale({ items: 1, stock_per_item: 1 })
  const r = await reserve(app, 'e', 1)
  const bought = (await app.inject({ method: 'POST', url: `/purchase?code=${r.code}` })).json()
  await redis.del(app.sale.catalog.get(saleId)!.shards[0]!.res)
  const replay = await app.inject({ method: 'POST', url: `/purchase?code=${r.code}` })
  t.equal(replay.statusCode, 200)
  t.equal(replay.json().purchase_id, bought.purchase_id)
})

t.test('a retry does not join a purchase whose buyer was answered at the deadline: it buys the unit', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t)
  await createSale({ items: 1, stock_per_item: 1 })
  const { code } = await reserve(app, 'buyer', 1)
  const { purchases } = app.sale

  // The first submit's buyer stops waiting (answered 503 at the deadline) before the purchase
  // decides anything; the retry arrives while that purchase still holds its lock.
  let firstWaits = true
  const first = purchases.purchase(code, '127.0.0.1', () => firstWaits)
  firstWaits = false
  const retry = purchases.purchase(code, '127.0.0.1', () => true)
  await t.rejects(first, { code: 'unavailable', dependency: 'deadline' }, 'the first submit commits nothing: its buyer is gone')
  t.match(await retry, { result: 'success' }, 'the retry buys the unit')
  const [n] = await sql`SELECT count(*)::int AS n FROM purchases WHERE code = ${code}`
  t.equal(n!.n, 1, 'once')

  // A submit of an answered purchase still joins it: the same purchase, answered again.
  const again = await Promise.all([purchases.purchase(code, '127.0.0.1', () => true), purchases.purchase(code, '127.0.0.1', () => true)])
  t.same(again.map((o) => o.result), ['replay', 'replay'])
})

const apart = TEST_CLUSTER_NODES.length > 0 && 'the locks live in the cluster, apart from the sale\'s keys: Redlock takes them'
t.test('with its lock on the data\'s own Redis, a purchase takes two round trips that name its code, not four', { skip: apart }, async (t) => {
  const { app, config, createSale } = await buildTestApp(t)
  t.ok(app.locks.settings.colocated, 'the lock lives on the data\'s Redis (REDLOCK_REDIS_URLS is REDIS_URL)')
  const saleId = await createSale({ items: 2, stock_per_item: 1 })
  const { code } = await reserve(app, 'rt', 1)

  const watcher = new Redis(config.REDIS_URL)
  const monitor = await watcher.monitor()
  t.teardown(() => {
    monitor.disconnect()
    watcher.disconnect()
  })
  const calls: string[][] = []
  const mark = `${config.REDIS_KEY_PREFIX}:mark`
  let marked = false
  // Script calls from a client that name the code (the lock's key names it too); not the
  // commands each script runs inside Redis.
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source !== 'lua' && /^eval/i.test(args[0] ?? '') && args.some((a) => a.includes(code))) calls.push(args)
    if (args[1] === mark) marked = true
  })
  const bought = await app.inject({ method: 'POST', url: `/purchase?code=${code}` })
  t.equal(bought.statusCode, 200)
  await eventually('the purchase settled in Redis', async () =>
    (await app.redis.hget(app.sale.catalog.get(saleId)!.shards[0]!.res, code))?.startsWith('S|'))
  // Redis runs commands in order: once the monitor sees a later one, it has seen the purchase's.
  await app.redis.get(mark)
  await eventually('the monitor caught up', async () => marked)
  t.equal(calls.length, 2, 'one script takes the lock and begins, one settles and releases')
  t.equal(await app.redis.exists(lockResource(config.REDIS_KEY_PREFIX, saleId, code)), 0, 'the lock is released')
})
