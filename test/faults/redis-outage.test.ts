import t from 'tap'
import { eventually } from '../helpers/eventually.ts'
import { faultSetup } from '../helpers/fault-setup.ts'

t.test('Redis outage: 503 at once, /health 503, recovery on its own', async (t) => {
  const f = await faultSetup(t, { env: { SALE_REFRESH_MS: '200' } })
  const { db: { sql }, redis, service, call } = f

  await f.createSale({ items: 50, stock_per_item: 1, per_user_limit: 50 })
  const before = await call('POST', '/checkout?user_id=early&id=1')
  t.equal(before.status, 200, 'checkout works before the outage')
  t.equal((await call('GET', '/health')).status, 200, '/health is 200 while Redis is up')

  await redis.kill()
  const during = []
  for (let i = 0; i < 20; i++) {
    during.push(await call('POST', `/checkout?user_id=u${i}&id=${i + 2}`))
    during.push(await call('POST', `/purchase?code=${before.body.code}`))
  }
  t.same([...new Set(during.map((r) => r.status))], [503], 'every checkout and purchase answers 503')
  t.ok(during.every((r) => r.body.error === 'unavailable' && r.headers['retry-after'] !== undefined),
    '503 unavailable with Retry-After')
  t.ok(during.every((r) => !/redis|ECONN|stack|at /i.test(JSON.stringify(r.body))), 'no internal detail leaks')
  const slowest = Math.max(...during.map((r) => r.ms))
  t.comment(`slowest 503 during the outage: ${slowest.toFixed(1)} ms over ${during.length} requests`)
  t.ok(slowest < 1_500, 'answered at once, not after a hang')
  // A code of a sale Redis does not hold is Postgres's to answer: the outage does not stop it.
  const saleId = Number(String(before.body.code).split('-')[0])
  const elsewhere = await call('POST', `/purchase?code=${saleId + 1000}-${'0'.repeat(32)}`)
  t.equal(elsewhere.status, 404, 'a code of a sale Redis does not hold is answered from Postgres')
  t.equal(elsewhere.body.error, 'code_not_found')
  const down = await f.healthTurns(503)
  t.pass(`/health turns 503 within ${down.ms} ms`)
  t.equal(down.body.dependencies.redis.status, 'down', 'and names Redis as the dependency down')

  // Back with an empty Redis (no persistence): the service reloads the sale from Postgres.
  const back = Date.now()
  await redis.start()
  let refusedWhileRecovering = 0
  const recovered = await eventually('checkout answers again', async () => {
    const r = await call('POST', '/checkout?user_id=late&id=30')
    if (r.status === 503) refusedWhileRecovering++
    return r.status === 200 ? r : undefined
  }, 15_000)
  const recoveryMs = Date.now() - back
  t.comment(`Redis back to first successful checkout: ${recoveryMs} ms`)
  t.ok(recoveryMs < 10_000, 'recovers on its own within seconds')
  t.equal((await call('POST', `/purchase?code=${recovered.body.code}`)).status, 200, 'purchase works again')
  await f.healthTurns(200)
  const lost = await call('POST', `/purchase?code=${before.body.code}`)
  t.equal(lost.status, 404, 'a reservation held only by the lost Redis is gone (documented limit), answered 404 not 5xx')

  // The 20 checkouts refused during the outage are attempts too: they reach Postgres.
  const rows = await eventually('outage attempts persisted', async () => {
    const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts WHERE result = 'error'`)[0]!
    return n >= 20 + refusedWhileRecovering ? n : undefined
  }, 10_000)
  t.equal(rows, 20 + refusedWhileRecovering, 'every checkout refused during the outage is in checkout_attempts as an error')
  t.equal((await service.stop('SIGTERM')).code, 0, 'shuts down cleanly')
})
