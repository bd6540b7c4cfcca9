import t from 'tap'
import { checkout, luaFixture } from '../helpers/lua.ts'
import type { ScriptLock } from '../../src/sale/locks.ts'

const lockOf = (key: string, value: string): ScriptLock => ({ key, value, ttlMs: 5_000 })

t.test('purchase-lock-begin.lua takes the lock and begins a live reservation in one call', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 2, stock: 1, ttlMs: 60_000 })
  await checkout(f, 1, 'a', 'ca')
  const mine = lockOf(`${f.keys.tag}:lock:ca`, 'v1')
  t.same(await f.scripts.purchaseLockBegin(f.keys, 'ca', 1_000, mine), ['commit', '1', 'a'])
  t.equal(await f.redis.get(mine.key), 'v1', 'the lock holds its value')
  const ttl = await f.redis.pttl(mine.key)
  t.ok(ttl > 0 && ttl <= 5_000, `the lock expires on its own (pttl ${ttl})`)
  t.equal((await f.reservation('ca'))![0], 'C', 'committing')

  const other = lockOf(mine.key, 'v2')
  t.same(await f.scripts.purchaseLockBegin(f.keys, 'ca', 1_000, other), ['busy'], 'another holder meets the lock')
  t.equal(await f.redis.get(mine.key), 'v1', 'and leaves it alone')
})

t.test('purchase-lock-begin.lua meets a lock Redlock took on the same key', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 1, stock: 1, ttlMs: 60_000 })
  await checkout(f, 1, 'a', 'cr')
  const key = `${f.keys.tag}:lock:cr`
  await f.redis.set(key, 'redlock-value', 'PX', 5_000)
  t.same(await f.scripts.purchaseLockBegin(f.keys, 'cr', 1_000, lockOf(key, 'mine')), ['busy'])
  t.equal((await f.reservation('cr'))![0], 'R', 'nothing begun')
})

t.test('purchase-lock-begin.lua answers a code not found, sold or returned without the lock', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 2, stock: 1, ttlMs: 60_000 })
  const key = (code: string) => `${f.keys.tag}:lock:${code}`
  t.same(await f.scripts.purchaseLockBegin(f.keys, 'none', 1_000, lockOf(key('none'), 'v')), ['not_found'])
  t.equal(await f.redis.exists(key('none')), 0, 'no lock for a code not found')

  await checkout(f, 1, 'a', 'cs')
  await f.scripts.purchaseBegin(f.keys, 'cs', 1_000)
  await f.scripts.purchaseSettle(f.keys, 'cs', '77')
  await f.redis.set(key('cs'), 'someone', 'PX', 5_000)
  t.same(await f.scripts.purchaseLockBegin(f.keys, 'cs', 1_000, lockOf(key('cs'), 'v')), ['sold', '1', 'a', '77'],
    'a sold code is answered its purchase even while another holds its lock')
})

t.test('purchase-lock-begin.lua returns a late reservation to stock and leaves no lock', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 1, stock: 1, ttlMs: 60_000 })
  await checkout(f, 1, 'a', 'late')
  await f.redis.hset(f.keys.meta, 'end', Date.now() - 1)
  const lock = lockOf(`${f.keys.tag}:lock:late`, 'v')
  t.same(await f.scripts.purchaseLockBegin(f.keys, 'late', 1_000, lock), ['expired', '1', 'a', 1])
  t.equal(await f.redis.exists(lock.key), 0, 'the lock is dropped with the answer')
  t.equal(await f.redis.hget(f.keys.stock, '1'), '1', 'the unit is back')
})

t.test('purchase-settle-release.lua settles, then releases only its own lock', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 2, stock: 1, ttlMs: 60_000 })
  for (const [item, code] of [[1, 'p1'], [2, 'p2']] as const) await checkout(f, item, `u${item}`, code)
  const mine = lockOf(`${f.keys.tag}:lock:p1`, 'v1')
  await f.scripts.purchaseLockBegin(f.keys, 'p1', 1_000, mine)
  t.same(await f.scripts.purchaseSettleRelease(f.keys, 'p1', '9', mine), { before: 'committing', after: 'sold' })
  t.equal(await f.redis.exists(mine.key), 0, 'released')
  t.match(await f.meta(), { sold: 1, reserved: 1 })

  // The lock expired and another purchase took it: this settle still counts, the lock stays theirs.
  const stale = lockOf(`${f.keys.tag}:lock:p2`, 'old')
  await f.scripts.purchaseLockBegin(f.keys, 'p2', 1_000, stale)
  await f.redis.set(stale.key, 'new', 'PX', 5_000)
  t.same(await f.scripts.purchaseSettleRelease(f.keys, 'p2', null, stale), { before: 'committing', after: 'reserved' })
  t.equal(await f.redis.get(stale.key), 'new', 'another holder\'s lock is left alone')
})

t.test('purchase-settle-release.lua for a try given up on settles only under its own lock', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 1, stock: 1, ttlMs: 60_000 })
  await checkout(f, 1, 'a', 'g1')
  const mine = lockOf(`${f.keys.tag}:lock:g1`, 'mine')
  // The try's begin never ran; another purchase holds the lock and is committing.
  await f.scripts.purchaseLockBegin(f.keys, 'g1', 1_000, lockOf(mine.key, 'theirs'))
  t.same(await f.scripts.purchaseSettleRelease(f.keys, 'g1', null, mine, true), { before: 'none', after: 'none' })
  t.equal((await f.reservation('g1'))![0], 'C', 'their commit is left alone')
  t.equal(await f.redis.get(mine.key), 'theirs', 'and their lock')

  // The try's begin did run, late: it holds the lock, and its reservation is reserved again.
  await f.redis.del(mine.key)
  await f.scripts.purchaseLockBegin(f.keys, 'g1', 1_000, mine)
  t.same(await f.scripts.purchaseSettleRelease(f.keys, 'g1', null, mine, true), { before: 'committing', after: 'reserved' })
  t.equal(await f.redis.exists(mine.key), 0, 'released')
})

t.test('lock-release.lua drops only the lock with its value', async (t) => {
  const f = await luaFixture(t)
  const key = `${f.keys.tag}:lock:x`
  await f.redis.set(key, 'theirs', 'PX', 5_000)
  t.equal(await f.scripts.lockRelease(lockOf(key, 'mine')), 0)
  t.equal(await f.redis.get(key), 'theirs')
  t.equal(await f.scripts.lockRelease(lockOf(key, 'theirs')), 1)
  t.equal(await f.redis.exists(key), 0)
})
