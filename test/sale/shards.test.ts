import t from 'tap'
import calculateSlot from 'cluster-key-slot'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { homeShard, saleShardKeys, shardOfCode } from '../../src/sale/keys.ts'
import { saleScripts } from '../../src/sale/scripts.ts'
import type { FastifyInstance } from 'fastify'
import type { RedisClient } from '../../src/sale/redis-client.ts'

/** Free units of an item on each shard of a sale. */
async function stockByShard (app: FastifyInstance, redis: RedisClient, saleId: number, item: number) {
  return Promise.all(app.sale.catalog.get(saleId)!.shards.map(async (k) => Number(await redis.hget(k.stock, String(item)))))
}

t.test('the shards of a sale sit in different thirds of the slot space', async (t) => {
  const shards = saleShardKeys('fs', 42, 'abcdef012345', 3)
  const thirds = shards.map((k) => Math.floor(calculateSlot(k.meta) / (16_384 / 3)))
  t.same(thirds, [0, 1, 2])
  for (const k of shards) t.equal(new Set([k.meta, k.stock, k.res, k.log, k.xfer, k.recv].map((key) => calculateSlot(key))).size, 1, 'one slot per shard')
  t.same(saleShardKeys('fs', 42, 'abcdef012345', 1)[0]!.tag, 'fs:{fs:42.abcdef012345}', 'one shard keeps the unsharded keys')
})

t.test('a sale over three shards: stock split as documented, buyers served from their home shard first', async (t) => {
  const { app, createSale, redis } = await buildTestApp(t, { SALE_SHARDS: 3 })
  const saleId = await createSale({ items: 4, stock_per_item: 10, per_user_limit: 100 })
  t.same(await stockByShard(app, redis, saleId, 1), [3, 4, 3], 'item 1: the odd unit on shard 1')
  t.same(await stockByShard(app, redis, saleId, 2), [3, 3, 4], 'item 2: on shard 2')
  const user = 'alice'
  const home = homeShard(user, 3)
  const { code } = (await app.inject({ method: 'POST', url: `/checkout?user_id=${user}&id=1` })).json()
  t.equal(shardOfCode(code, 3), home, 'the reservation lives on the buyer\'s home shard')
  const after = await stockByShard(app, redis, saleId, 1)
  t.equal(after[home], [3, 4, 3][home]! - 1, 'taken from the home shard')
})

t.test('when the home shard runs out, a unit moves from another shard: none lost, none made', async (t) => {
  const { app, createSale, redis, sql } = await buildTestApp(t, { SALE_SHARDS: 3 })
  const saleId = await createSale({ items: 1, stock_per_item: 5, per_user_limit: 100 })
  // One buyer takes all five units: whatever its home shard holds, the rest comes from the others.
  const replies = []
  for (let i = 0; i < 6; i++) replies.push(await app.inject({ method: 'POST', url: '/checkout?user_id=bob&id=1' }))
  t.same(replies.map((r) => r.statusCode), [200, 200, 200, 200, 200, 409], 'five reservations, then sold out everywhere')
  t.same(await stockByShard(app, redis, saleId, 1), [0, 0, 0])
  const home = homeShard('bob', 3)
  const { shards } = app.sale.catalog.get(saleId)!
  t.equal(await redis.hlen(shards[home]!.res), 5, 'every reservation on the home shard')
  t.same(await Promise.all(shards.map((k) => redis.hlen(k.xfer))), [0, 0, 0], 'every transfer acknowledged')
  t.match((await app.inject('/sale')).json(), { units_total: 5, units_reserved: 5, units_available: 0 })
  await app.sale.attempts.drain()
  const rows = await sql<{ result: string }[]>`SELECT result FROM checkout_attempts ORDER BY id`
  t.same(rows.map((r) => r.result).sort(), ['sold_out', 'success', 'success', 'success', 'success', 'success'],
    'each attempt recorded once, by the step that decided it')
})

t.test('a unit taken for a checkout that never finished lands on its destination shard', async (t) => {
  const { app, createSale, redis } = await buildTestApp(t, { SALE_SHARDS: 3 })
  const saleId = await createSale({ items: 3, stock_per_item: 1, per_user_limit: 100 })
  const { shards } = app.sale.catalog.get(saleId)!
  // Item 1 lives on shard 1; a checkout for a buyer homed on shard 0 took it, then its process died.
  const scripts = saleScripts(redis)
  t.equal(await scripts.stockTake(shards[1]!, 1, 'dead-transfer', 0), 1)
  t.same(await stockByShard(app, redis, saleId, 1), [0, 0, 0], 'the unit is in flight: on no shard\'s stock')
  // Old enough for the sweeper (the journal entry's time is Redis's clock, in ms).
  await redis.hset(shards[1]!.xfer, 'dead-transfer', '1|0|0')
  await app.sale.tick()
  t.same(await stockByShard(app, redis, saleId, 1), [1, 0, 0], 'landed on shard 0, once')
  t.equal(await redis.hlen(shards[1]!.xfer), 0, 'and forgotten by the shard it left')
  t.equal(await scripts.stockGive(shards[0]!, 1, 'dead-transfer'), 0, 'receiving it again adds nothing')
  t.same(await stockByShard(app, redis, saleId, 1), [1, 0, 0])
})

t.test('a lost shard is rebuilt from Postgres and what the other shards hold', async (t) => {
  const { app, createSale, redis } = await buildTestApp(t, { SALE_SHARDS: 3, REQUEST_DEADLINE_MS: 100 })
  const saleId = await createSale({ items: 2, stock_per_item: 30, per_user_limit: 100 })
  const codes: string[] = []
  for (let i = 0; i < 24; i++) {
    const r = await app.inject({ method: 'POST', url: `/checkout?user_id=u${i}&id=${(i % 2) + 1}` })
    codes.push(r.json().code)
  }
  for (const code of codes.slice(0, 6)) t.equal((await app.inject({ method: 'POST', url: `/purchase?code=${code}` })).statusCode, 200)
  const { shards } = app.sale.catalog.get(saleId)!
  const lost = 1
  const reservedThere = await redis.hvals(shards[lost]!.res).then((v) => v.filter((s) => s.startsWith('R|')).length)
  await redis.del(shards[lost]!.meta, shards[lost]!.stock, shards[lost]!.users, shards[lost]!.res, shards[lost]!.due)
  // Rebuilt once missing for longer than a checkout can take, then every unit is accounted for.
  const sale = await eventually('the lost shard rebuilt', async () => {
    await app.sale.tick()
    if ((await redis.exists(shards[lost]!.meta)) === 0) return undefined
    return (await app.inject('/sale')).json() as Record<string, number>
  }, 10_000)
  const reservedBefore = 24 - 6
  t.match(sale, { units_total: 60, units_sold: 6, units_reserved: reservedBefore - reservedThere })
  t.equal(sale.units_available, 60 - 6 - (reservedBefore - reservedThere), 'the lost shard\'s live reservations came back to stock')
  const free = [1, 2].map(async (item) => (await stockByShard(app, redis, saleId, item)).reduce((a, b) => a + b, 0))
  t.equal((await Promise.all(free)).reduce((a, b) => a + b, 0), sale.units_available, 'stock on the shards adds up')
})
