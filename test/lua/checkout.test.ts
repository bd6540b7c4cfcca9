import t from 'tap'
import { checkout, luaFixture } from '../helpers/lua.ts'

t.test('checkout.lua decides in order: window, item, stock, user limit', async (t) => {
  const f = await luaFixture(t)
  t.same(await checkout(f, 1, 'u', 'c0'), ['sale_not_active', 0], 'no sale loaded')

  t.equal(await f.load({ items: 2, stock: 1, limit: 1, ttlMs: 5_000 }), 1)
  const [result, expires] = await checkout(f, 1, 'u', 'c1')
  t.equal(result, 'success')
  t.ok(Math.abs(expires - (Date.now() + 5_000)) < 1_000, 'expires after the ttl, by the Redis clock')
  t.same(await f.reservation('c1'), ['R', '1', 'u', String(expires)])
  t.equal(Number(await f.redis.zscore(f.keys.due, 'c1')), expires, 'due at its expiry')

  t.same(await checkout(f, 1, 'v', 'c2'), ['sold_out', 0])
  t.same(await checkout(f, 3, 'v', 'c3'), ['item_not_found', 0])
  t.same(await checkout(f, 2, 'u', 'c4'), ['user_limit', 0])
  const [ok, at] = await checkout(f, 2, 'v', 'c5')
  t.equal(ok, 'success')
  t.equal(String(at), (await f.reservation('c5'))![3], 'the answer carries the stored expiry')

  t.match(await f.meta(), { total: 2, sold: 0, reserved: 2 })
  t.equal(await f.redis.hget(f.keys.users, 'u'), '1')
  t.equal(await f.redis.hget(f.keys.stock, '1'), '0')

  const log = await f.redis.xrange(f.keys.log, '-', '+')
  const entries = log.map(([, fields]) => fields[1]!.split('|'))
  t.same(entries.map(([user, item, result, key]) => [user, item, result, key]), [
    ['u', '1', 'sale_not_active', 'c0'],
    ['u', '1', 'success', 'c1'],
    ['v', '1', 'sold_out', 'c2'],
    ['v', '3', 'item_not_found', 'c3'],
    ['u', '2', 'user_limit', 'c4'],
    ['v', '2', 'success', 'c5'],
  ], 'every attempt is in the stream under the key it was given (the code, on success)')
})

t.test('checkout.lua refuses outside the sale window', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 1, stock: 1, startIn: 60_000 })
  t.same(await checkout(f, 1, 'u', 'early'), ['sale_not_active', 0])
  await f.redis.hset(f.keys.meta, 'start', Date.now() - 10_000, 'end', Date.now() - 1)
  t.same(await checkout(f, 1, 'u', 'late'), ['sale_not_active', 0])
  t.equal(await f.redis.hget(f.keys.stock, '1'), '1', 'stock untouched')
})

t.test('checkout.lua counts rate limits per address and per user in the same round trip', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 10, stock: 1, limit: 100 })
  const perUser = { ip: 0, user: 2, windowMs: 5_000 }
  t.equal((await checkout(f, 1, 'u', 'a', perUser))[0], 'success')
  t.equal((await checkout(f, 2, 'u', 'b', perUser))[0], 'success')
  const [limited, wait] = await checkout(f, 3, 'u', 'c', perUser)
  t.equal(limited, 'rate_limited')
  t.ok(wait > 0 && wait <= 5_000, 'answers the time left in the window')
  t.equal(await f.redis.hget(f.keys.stock, '3'), '1', 'a limited attempt takes nothing')
  t.equal((await checkout(f, 3, 'v', 'd', perUser))[0], 'success', 'another user is not limited')

  const perAddress = { ip: 1, user: 0, windowMs: 5_000 }
  t.equal((await checkout(f, 4, 'w', 'e', perAddress))[0], 'success')
  t.equal((await checkout(f, 5, 'x', 'f', perAddress))[0], 'rate_limited', 'the address is limited whatever the user')

  const log = await f.redis.xrange(f.keys.log, '-', '+')
  t.same(log.map(([, fields]) => fields[1]!.split('|')[2]), ['success', 'success', 'rate_limited', 'success', 'success', 'rate_limited'],
    'limited attempts are recorded like the rest')
})
