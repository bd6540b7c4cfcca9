import t from 'tap'
import { checkout, luaFixture } from '../helpers/lua.ts'
import { untilRedisTime } from '../helpers/redis-clock.ts'

t.test('purchase-begin.lua moves a live reservation to committing', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 2, stock: 1, ttlMs: 60_000 })
  t.same(await f.scripts.purchaseBegin(f.keys, 'none', 1_000), ['not_found'])
  await checkout(f, 1, 'a', 'ca')
  t.same(await f.scripts.purchaseBegin(f.keys, 'ca', 1_000), ['commit', '1', 'a'])
  t.equal((await f.reservation('ca'))![0], 'C')
  const lease = Number(await f.redis.zscore(f.keys.due, 'ca'))
  t.ok(Math.abs(lease - (Date.now() + 1_000)) < 500, 'due when the commit lease ends')
  t.same(await f.scripts.purchaseBegin(f.keys, 'ca', 1_000), ['commit', '1', 'a'], 'a committing reservation is taken over under the lock')
  await f.scripts.purchaseSettle(f.keys, 'ca', '77')
  t.same(await f.scripts.purchaseBegin(f.keys, 'ca', 1_000), ['sold', '1', 'a', '77'])
})

t.test('purchase-begin.lua expires a late reservation and returns its unit', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 1, stock: 1, ttlMs: 50 })
  const [, expires] = await checkout(f, 1, 'a', 'late')
  await untilRedisTime(f.redis, expires)
  t.same(await f.scripts.purchaseBegin(f.keys, 'late', 1_000), ['expired', '1', 'a', 1])
  t.equal(await f.redis.hget(f.keys.stock, '1'), '1')
  t.same(await f.scripts.purchaseBegin(f.keys, 'late', 1_000), ['expired', '1', 'a'], 'expired stays expired')
})

t.test('purchase-begin.lua refuses reservations of an ended sale', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 1, stock: 1 })
  await checkout(f, 1, 'a', 'c')
  await f.redis.hset(f.keys.meta, 'end', Date.now() - 1)
  t.same(await f.scripts.purchaseBegin(f.keys, 'c', 1_000), ['expired', '1', 'a', 1])
})

t.test('purchase-begin.lua asks to settle a committing reservation found after its expiry', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 1, stock: 1, ttlMs: 50 })
  const [, expires] = await checkout(f, 1, 'a', 'c')
  t.same(await f.scripts.purchaseBegin(f.keys, 'c', 60_000), ['commit', '1', 'a'])
  await untilRedisTime(f.redis, expires)
  t.same(await f.scripts.purchaseBegin(f.keys, 'c', 60_000), ['settle', '1', 'a'])
})
