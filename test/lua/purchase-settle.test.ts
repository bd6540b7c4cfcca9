import t from 'tap'
import { checkout, luaFixture } from '../helpers/lua.ts'

t.test('purchase-settle.lua: sold counts once, unsold returns or reserves again', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 3, stock: 1, ttlMs: 60_000 })
  for (const [i, code] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) {
    await checkout(f, i, `u${i}`, code)
    await f.scripts.purchaseBegin(f.keys, code, 1_000)
  }
  t.same(await f.scripts.purchaseSettle(f.keys, 'a', '9'), { before: 'committing', after: 'sold' })
  t.same(await f.scripts.purchaseSettle(f.keys, 'a', '9'), { before: 'sold', after: 'sold' }, 'idempotent')
  t.same(await f.reservation('a'), ['S', '1', 'u1', (await f.reservation('a'))![3]!, '9'])
  t.equal(await f.redis.zscore(f.keys.due, 'a'), null, 'a sold reservation is no longer due')

  t.same(await f.scripts.purchaseSettle(f.keys, 'b', null), { before: 'committing', after: 'reserved' }, 'in time: reserved again')
  const expires = Number((await f.reservation('b'))![3])
  t.equal(Number(await f.redis.zscore(f.keys.due, 'b')), expires, 'due at its own expiry again')

  await f.redis.hset(f.keys.meta, 'end', Date.now() - 1)
  t.same(await f.scripts.purchaseSettle(f.keys, 'c', null), { before: 'committing', after: 'returned' }, 'sale over: unit returns')
  t.equal(await f.redis.hget(f.keys.stock, '3'), '1')
  t.match(await f.meta(), { sold: 1, reserved: 1, expired: 1 })
  t.same(await f.scripts.purchaseSettle(f.keys, 'zz', '1'), { before: 'none', after: 'none' }, 'unknown code')
})

t.test('purchase-settle.lua takes the unit again when a purchase row exists for an expired code', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 1, stock: 1, ttlMs: 60_000 })
  await checkout(f, 1, 'u', 'x')
  await f.scripts.purchaseBegin(f.keys, 'x', 1_000)
  await f.redis.hset(f.keys.meta, 'end', Date.now() - 1)
  await f.scripts.purchaseSettle(f.keys, 'x', null)
  t.equal(await f.redis.hget(f.keys.stock, '1'), '1')
  t.same(await f.scripts.purchaseSettle(f.keys, 'x', '5'), { before: 'returned', after: 'sold' })
  t.equal(await f.redis.hget(f.keys.stock, '1'), '0', 'stock and sold agree with Postgres')
  t.match(await f.meta(), { sold: 1, reserved: 0 })
})
