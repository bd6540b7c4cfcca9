import t from 'tap'
import { readMetrics } from '../../kit/operator-client.ts'
import { lockResource } from '../../src/sale/keys.ts'
import { eventually } from '../helpers/eventually.ts'
import { faultSetup } from '../helpers/fault-setup.ts'
import { series } from '../helpers/metrics.ts'
import { startRedis } from '../helpers/redis-server.ts'

t.test('Redlock over 3 nodes: one down, purchases go on; two down, they fail fast', async (t) => {
  const nodes = [await startRedis(t), await startRedis(t), await startRedis(t)]
  const f = await faultSetup(t, { env: { REDLOCK_REDIS_URLS: nodes.map((n) => n.url).join(',') } })
  const { db: { sql }, call } = f
  const saleId = await f.createSale({ items: 40, stock_per_item: 1, per_user_limit: 40 })
  const codes: string[] = []
  for (let i = 1; i <= 40; i++) codes.push((await call('POST', `/checkout?user_id=q&id=${i}`)).body.code)
  const buy = (c: string) => call('POST', `/purchase?code=${c}`)

  t.same((await Promise.all(codes.slice(0, 5).map(buy))).map((r) => r.status), [200, 200, 200, 200, 200], 'all nodes up')

  await nodes[0]!.kill()
  const oneDown = await Promise.all(codes.slice(5, 20).map(buy))
  t.same([...new Set(oneDown.map((r) => r.status))], [200], `one node down: ${oneDown.length} purchases go on`)

  await nodes[1]!.kill()
  const twoDown = await Promise.all(codes.slice(20, 30).map(buy))
  t.same([...new Set(twoDown.map((r) => r.status))], [503], 'two nodes down: purchases answer 503')
  t.ok(twoDown.every((r) => r.body.error === 'unavailable'), 'as unavailable')
  const slowest = Math.max(...twoDown.map((r) => r.ms))
  t.comment(`slowest refusal without a quorum: ${slowest.toFixed(0)} ms`)
  t.ok(slowest < 2_000, 'fail fast')
  t.equal((await f.states(saleId)).C, 0, 'a refused purchase leaves no reservation committing')

  const back = Date.now()
  await nodes[0]!.start()
  await eventually('quorum back', async () => (await buy(codes[20]!)).status === 200, 10_000)
  t.comment(`a node back to purchases going on: ${Date.now() - back} ms`)
  const rest = await Promise.all(codes.slice(20).map(buy))
  t.same([...new Set(rest.map((r) => r.status))], [200], 'with the quorum back every refused code is bought')
  const { n, d } = (await sql<{ n: number; d: number }[]>`SELECT count(*)::int AS n, count(DISTINCT code)::int AS d FROM purchases`)[0]!
  t.equal(n, 40, 'one row per code')
  t.equal(d, 40)
})

t.test('a lock that expires during a slow commit cannot produce a second purchase', async (t) => {
  const lockNode = await startRedis(t)
  const f = await faultSetup(t, { env: { REDLOCK_REDIS_URLS: lockNode.url, LOCK_TTL_MS: '500' } })
  const { db: { sql }, redis, proxy, service: a, call: callA } = f
  // Instance A reaches Postgres through the proxy the test holds; instance B directly.
  const { call: callB } = await f.startInstance({ DATABASE_URL: f.db.url })
  const saleId = await f.createSale({ items: 1, stock_per_item: 1 })
  const keys = await f.keys(saleId)
  const { code } = (await callA('POST', '/checkout?user_id=slow&id=1')).body
  const lockKey = lockResource('fs', saleId, code)

  proxy.hold()
  const first = callA('POST', `/purchase?code=${code}`)
  await eventually('A committing under its lock', async () =>
    (await redis.client.hget(keys.res, code))?.startsWith('C|') && (await lockNode.client.exists(lockKey)) === 1)
  // A pauses (a long GC, a stalled VM) with its insert sent but unanswered: its lock runs out.
  a.signal('SIGSTOP')
  const pausedAt = Date.now()
  await eventually('A\'s lock expired', async () => (await lockNode.client.exists(lockKey)) === 0, 5_000)
  t.comment(`A's lock expired ${Date.now() - pausedAt} ms into the pause`)

  const second = await callB('POST', `/purchase?code=${code}`)
  t.equal(second.status, 200, 'B takes the expired lock and buys')

  a.signal('SIGCONT')
  proxy.release()
  const late = await first
  t.comment(`A answered ${late.status} ${JSON.stringify(late.body)}`)
  t.ok(late.status === 200 || late.status === 503, 'A answers the same purchase or unavailable, never a new one')
  if (late.status === 200) t.equal(late.body.purchase_id, second.body.purchase_id, 'A answers the same purchase_id')

  const rows = await sql`SELECT id::text FROM purchases WHERE code = ${code}`
  t.equal(rows.length, 1, 'exactly one purchase row')
  t.equal(rows[0]!.id, second.body.purchase_id)
  await eventually('Redis settled', async () => (await redis.client.hget(keys.res, code))?.startsWith('S|'))
  t.match(await redis.client.hgetall(keys.meta), { sold: '1', reserved: '0' }, 'one unit sold, none reserved')
  const replay = await callA('POST', `/purchase?code=${code}`)
  t.equal(replay.body.purchase_id, second.body.purchase_id, 'replay on A answers the one purchase')
  const lost = series(await readMetrics(callA), 'flashsale_lock_lost_total', { lock_type: 'purchase' })
  t.comment(`A counted ${lost} lost purchase lock(s)`)
  t.ok(lost !== undefined && lost >= 1, 'A counts the lock it lost')
})
