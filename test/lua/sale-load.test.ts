import t from 'tap'
import { luaFixture, OWNER } from '../helpers/lua.ts'

t.test('sale-load.lua loads once and rebuilds from what was sold', async (t) => {
  const f = await luaFixture(t)
  t.equal(await f.load({ items: 5_000, stock: 2, sold: [['3', 2], ['7', 1]], users: [['ann', 2], ['bo', 1]] }), 1)
  t.match(await f.meta(), { total: 10_000, sold: 3, reserved: 0 })
  t.equal(await f.redis.hlen(f.keys.stock), 5_000)
  t.same(await f.redis.hmget(f.keys.stock, '1', '3', '7', '5000'), ['2', '0', '1', '2'])
  t.same(await f.redis.hgetall(f.keys.users), { ann: '2', bo: '1' })
  const groups = (await f.redis.xinfo('GROUPS', f.keys.log)) as unknown[][]
  t.equal(groups.length, 1, 'the attempt-log consumer group exists')
  t.ok((await f.redis.pttl(f.keys.stock)) > 0, 'keys expire after retention')

  await f.redis.hset(f.keys.stock, '1', '0')
  t.equal(await f.load({ items: 5_000, stock: 2 }), 0, 'a loaded sale is left alone')
  t.equal(await f.redis.hget(f.keys.stock, '1'), '0')
})

t.test('sale-sync.lua updates the window of a loaded sale and reports a missing one', async (t) => {
  const f = await luaFixture(t)
  const sync = (end: number, owner = OWNER) => f.scripts.saleSync(f.keys, { startsAt: 1, endsAt: end, perUserLimit: 3, ttlMs: 1_000, expireAt: end + 1_000, owner })
  t.equal(await sync(Date.now() + 5_000), 0, 'missing')
  t.equal(await f.redis.exists(f.keys.meta), 0, 'nothing created')
  await f.load({ items: 1, stock: 1 })
  await f.redis.hset(f.keys.users, 'x', 1)
  const end = Date.now() + 5_000
  t.equal(await sync(end), 1)
  t.match(await f.meta(), { start: 1, end, limit: 3, ttl: 1_000 })
  t.ok((await f.redis.pttl(f.keys.users)) > 0, 'keys created after loading get an expiry too')
  t.equal(await sync(end, '1.other'), 0, 'another database\'s sale of the same id must be loaded anew')
  t.equal(await sync(end, ''), 0, 'so must a sale from before tokens, over a tokened one')
})

t.test('sale-load.lua sets another database\'s state aside and loads its own', async (t) => {
  const f = await luaFixture(t)
  const now = Date.now()
  const load = (owner: string) => f.scripts.saleLoad(f.keys,
    { startsAt: now - 1_000, endsAt: now + 60_000, perUserLimit: 10, ttlMs: 60_000, expireAt: now + 86_400_000, owner }, 3, 5,
    { shard: 0, shards: 1, mode: 'share', byItem: [], byUser: [] })
  t.equal(await load('1.theirs'), 1)
  await f.redis.hset(f.keys.stock, '1', '0')
  await f.redis.xadd(f.keys.log, '*', 'a', 'x|1|success|c|1')
  t.equal(await load('1.theirs'), 0, 'their own state is left alone')
  t.equal(await load(OWNER), 2, 'ours, over theirs: set aside, then loaded')
  t.same(await f.redis.hmget(f.keys.stock, '1', '2', '3'), ['5', '5', '5'], 'full stock, not theirs')
  t.equal(await f.redis.hget(f.keys.meta, 'owner'), OWNER)
  t.equal(await f.redis.xlen(f.keys.log), 0, 'none of their attempts will be drained as ours')
  t.equal(await f.redis.xlen(`${f.keys.log}:foreign`), 1, 'they are kept aside')
  t.ok((await f.redis.pttl(`${f.keys.stock}:foreign`)) > 0, 'for a while')
})
