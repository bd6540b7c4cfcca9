import t from 'tap'
import { checkout, luaFixture } from '../helpers/lua.ts'
import { untilRedisTime } from '../helpers/redis-clock.ts'

t.test('sweep.lua returns expired units and hands back stuck commits', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 3, stock: 1, ttlMs: 300 })
  const [, expires] = await checkout(f, 1, 'a', 'ra')
  await checkout(f, 2, 'b', 'rb')
  await checkout(f, 3, 'c', 'rc')
  // rb is mid-purchase with a short lease; rc is sold.
  t.same(await f.scripts.purchaseBegin(f.keys, 'rb', 100), ['commit', '2', 'b'])
  await f.scripts.purchaseSettle(f.keys, 'rc', '42')

  t.same(await f.scripts.sweep(f.keys, 100, 100), [0, 0], 'nothing due yet')
  await untilRedisTime(f.redis, expires)
  const [expired, more, ...stuck] = await f.scripts.sweep(f.keys, 100, 60_000)
  t.equal(expired, 1)
  t.equal(more, 0)
  t.same(stuck, ['rb'], 'the committing reservation whose lease ran out is handed back')
  t.same((await f.reservation('ra'))!.slice(0, 3), ['X', '1', 'a'])
  t.equal(await f.redis.hget(f.keys.stock, '1'), '1', 'unit back in stock')
  t.equal(await f.redis.hget(f.keys.users, 'a'), '0', 'user count released')
  t.match(await f.meta(), { reserved: 1, sold: 1, expired: 1 })
  t.same(await f.scripts.sweep(f.keys, 100, 60_000), [0, 0], 'the stuck commit is leased to the first sweeper')
})

t.test('sweep.lua works in batches', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 5, stock: 1, ttlMs: 1 })
  let last = 0
  for (let i = 1; i <= 5; i++) last = (await checkout(f, i, `u${i}`, `c${i}`))[1]
  await untilRedisTime(f.redis, last)
  t.same(await f.scripts.sweep(f.keys, 2, 1_000), [2, 1], 'a full batch says there is more')
  t.same(await f.scripts.sweep(f.keys, 2, 1_000), [2, 1])
  t.same(await f.scripts.sweep(f.keys, 2, 1_000), [1, 0])
  t.match(await f.meta(), { reserved: 0, expired: 5 })
})
