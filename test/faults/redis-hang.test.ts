import t, { type Test } from 'tap'
import { eventually } from '../helpers/eventually.ts'
import { faultSetup, type FaultSetup } from '../helpers/fault-setup.ts'
import { startRedis } from '../helpers/redis-server.ts'

const BOUND_MS = 1_000

t.test('a hung Redis: every path answers 503 within the bound, and nothing is decided behind the buyer\'s back', async (t) => {
  const f = await faultSetup(t)
  const { db: { sql }, redis, service, call } = f
  const saleId = await f.createSale({ items: 10, stock_per_item: 1, per_user_limit: 5 })
  const before = await call('POST', '/checkout?user_id=early&id=1')
  t.equal(before.status, 200)
  const keys = await f.keys(saleId)

  redis.pause()
  t.teardown(() => redis.resume())
  const answers = await Promise.all([
    call('POST', '/checkout?user_id=hung&id=2'),
    call('POST', `/purchase?code=${before.body.code}`),
    call('GET', '/sale'),
    call('GET', '/sale/items?limit=5'),
  ])
  for (const [i, what] of ['checkout', 'purchase', 'sale', 'items'].entries()) {
    const a = answers[i]!
    t.equal(a.status, 503, `${what} answers 503`)
    t.equal(a.body.error, 'unavailable', `${what}: unavailable`)
    t.ok(a.headers['retry-after'], `${what}: Retry-After`)
    t.comment(`${what}: 503 after ${a.ms.toFixed(0)} ms`)
    t.ok(a.ms < BOUND_MS + 300, `${what} answered within the bound (${a.ms.toFixed(0)} ms)`)
  }
  redis.resume()

  // Redis runs what was sent while it hung: the reservation of the refused checkout must not stay.
  const states = await eventually('the late reservation released', async () => {
    const s = await f.states(saleId)
    return s.R === 1 && s.C === 0 ? s : undefined
  }, 10_000)
  t.match(states, { R: 1, C: 0, S: 0 }, 'only the reservation made before the hang is held')
  t.equal(await redis.client.hget(keys.stock, '2'), '1', 'the unit of the refused checkout is back in stock')
  t.equal(await redis.client.hget(keys.users, 'hung'), '0', 'and does not count against its buyer')
  t.equal((await call('POST', `/purchase?code=${before.body.code}`)).status, 200, 'the earlier reservation can still be bought')

  // Read once the log has settled it: should the script's stream entry reach Postgres first, the
  // service's error record still wins.
  let seen: { rows: unknown[]; n: number } = { rows: [], n: 0 }
  await eventually('the refused checkout stored as its error', async () => {
    const r = await sql<{ result: string; code: string | null }[]>`SELECT result, code FROM checkout_attempts WHERE user_id = 'hung'`
    const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts`)[0]!
    seen = { rows: r.map((row) => ({ ...row })), n }
    return n === 2 && r.length === 1 && r[0]!.result === 'error'
  }, 10_000).catch(() => {})
  t.same(seen, { rows: [{ result: 'error', code: null }], n: 2 }, 'one attempt, one row: the error its buyer was answered')
  t.equal((await service.stop('SIGTERM')).code, 0)
})

t.test('a hung lock node or a hung Postgres: purchase answers 503 within the bound, and a retry buys once', async (t) => {
  const lockNode = await startRedis(t)
  const f = await faultSetup(t, { env: { REDLOCK_REDIS_URLS: lockNode.url } })
  const { db: { sql }, proxy, call } = f
  await f.createSale({ items: 10, stock_per_item: 1, per_user_limit: 5 })
  const codes: string[] = []
  for (let i = 1; i <= 2; i++) codes.push((await call('POST', `/checkout?user_id=buyer&id=${i}`)).body.code)

  lockNode.pause()
  const locked = await call('POST', `/purchase?code=${codes[0]}`)
  lockNode.resume()
  t.equal(locked.status, 503, 'lock node hung: 503')
  t.ok(locked.ms < BOUND_MS + 300, `within the bound (${locked.ms.toFixed(0)} ms)`)

  proxy.hold()
  const held = await call('POST', `/purchase?code=${codes[1]}`)
  proxy.release()
  t.equal(held.status, 503, 'Postgres hung: 503')
  t.ok(held.ms < BOUND_MS + 300, `within the bound (${held.ms.toFixed(0)} ms)`)

  for (const code of codes) {
    const retry = await eventually(`purchase of ${code} again`, async () => {
      const r = await call('POST', `/purchase?code=${code}`)
      return r.status === 200 ? r : undefined
    }, 10_000)
    t.equal(retry.body.status, 'purchased', 'a retry buys it')
  }
  const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM purchases`)[0]!
  t.equal(n, 2, 'once each')
})

// Redis slow, not dead: purchase_begin is answered after the deadline, within its command
// timeout; or given up on before the deadline (its command timed out), and run by Redis all the
// same once it answers. Either way the buyer is answered by the deadline.
const slowRedis = [
  ['answers after the deadline', { REDIS_COMMAND_TIMEOUT_MS: '5000' }],
  ['runs after the service gave up on it', { REQUEST_DEADLINE_MS: '3000' }],
] as const
for (const [how, env] of slowRedis) {
  t.test(`a purchase whose begin Redis ${how} is settled back at once, not left committing`, async (t) => {
    const lockNode = await startRedis(t)
    // The lock on a node of its own: with Redis hung, the purchase takes its lock and waits in
    // purchase_begin.
    const f = await faultSetup(t, { env: { REDLOCK_REDIS_URLS: lockNode.url, ...env } })
    await settledBack(t, f, 'REQUEST_DEADLINE_MS' in env ? Number(env.REQUEST_DEADLINE_MS) : BOUND_MS)
  })
}

async function settledBack (t: Test, f: FaultSetup, deadline: number) {
  const { db: { sql }, redis, call } = f
  const saleId = await f.createSale({ items: 1, stock_per_item: 1 })
  const { code } = (await call('POST', '/checkout?user_id=buyer&id=1')).body
  const { res } = await f.keys(saleId)

  redis.pause()
  t.teardown(() => redis.resume())
  const answer = await call('POST', `/purchase?code=${code}`)
  redis.resume()
  t.equal(answer.status, 503, 'the buyer is answered 503 (the deadline, or the command timing out)')
  t.ok(answer.ms < deadline + 300, `by the deadline (${answer.ms.toFixed(0)} ms)`)

  // What purchase_begin began is settled by what Postgres holds (nothing): reserved again well
  // before the sweeper would settle it (COMMIT_LEASE_MS, 30 s).
  await eventually('the reservation reserved again', async () => (await redis.client.hget(res, code))?.startsWith('R|'), 5_000)
  const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM purchases`)[0]!
  t.equal(n, 0, 'nothing bought behind the buyer\'s back')
  const retry = await call('POST', `/purchase?code=${code}`)
  t.equal(retry.status, 200, 'the buyer\'s retry buys it', { answer: retry.body })
}

t.test('a buyer who leaves before the answer holds nothing: the reservation made for them is released', async (t) => {
  const f = await faultSetup(t)
  const { db: { sql }, redis, service } = f
  const saleId = await f.createSale({ items: 3, stock_per_item: 1, per_user_limit: 5 })
  const keys = await f.keys(saleId)

  // Redis is slow, not dead: the script runs well within the deadline, after the client gave up.
  redis.pause()
  // Gives up well before the deadline, late enough that even a busy service has the request.
  const gaveUp = fetch(`${service.base}/checkout?user_id=impatient&id=1`, { method: 'POST', signal: AbortSignal.timeout(500) })
  await t.rejects(gaveUp, 'the client gives up')
  redis.resume()

  await eventually('the reservation released', async () => (await f.states(saleId)).X === 1, 10_000)
  t.equal(await redis.client.hget(keys.stock, '1'), '1', 'the unit is back in stock')
  // The script's stream entry (success) and the service's own record (abandoned: the buyer left)
  // are one attempt: whichever reaches Postgres first, the row ends as abandoned.
  let seen: string[] = []
  await eventually('the attempt stored as abandoned', async () => {
    const r = await sql<{ result: string }[]>`SELECT result FROM checkout_attempts WHERE user_id = 'impatient'`
    seen = r.map((row) => row.result)
    return seen.length === 1 && seen[0] === 'abandoned'
  }, 10_000).catch(() => {})
  t.same(seen, ['abandoned'], 'one row: the buyer left, and got no reservation')
})
