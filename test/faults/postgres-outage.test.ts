import t from 'tap'
import { eventually } from '../helpers/eventually.ts'
import { faultSetup } from '../helpers/fault-setup.ts'

t.test('Postgres outage: checkout goes on, purchase 503, no attempt lost, catch-up after', async (t) => {
  const f = await faultSetup(t, { env: { SALE_REFRESH_MS: '200', COMMIT_LEASE_MS: '1000', SWEEP_INTERVAL_MS: '100' } })
  const { db: { sql }, proxy, service, call } = f
  await f.createSale({ items: 40, stock_per_item: 1, per_user_limit: 5 })

  let attempts = 0
  const checkout = async (user: string, item: number | string) => {
    const r = await call('POST', `/checkout?user_id=${user}&id=${item}`)
    attempts++
    return r
  }
  const early = await checkout('early', 1)
  t.equal(early.status, 200)

  await proxy.cut()
  const codes: string[] = []
  const answers: number[] = []
  for (let i = 0; i < 60; i++) {
    // Successes, sold-out items, a user over the limit, unknown items and invalid input.
    const r = await checkout(`buyer${i % 12}`, i % 10 === 9 ? 'x' : (i % 45) + 2)
    answers.push(r.status)
    if (r.status === 200) codes.push(r.body.code)
  }
  t.ok(answers.every((s) => s < 500), `checkout goes on while Postgres is down: ${JSON.stringify(countBy(answers))}`)
  t.ok(codes.length >= 30, `${codes.length} units reserved during the outage`)

  const refused = await Promise.all([early.body.code, ...codes.slice(0, 5)].map((c) => call('POST', `/purchase?code=${c}`)))
  t.same(refused.map((r) => r.status), [503, 503, 503, 503, 503, 503], 'purchases answer 503')
  t.ok(refused.every((r) => r.body.error === 'unavailable' && r.headers['retry-after'] !== undefined), 'with Retry-After')
  t.comment(`slowest purchase 503: ${Math.max(...refused.map((r) => r.ms)).toFixed(0)} ms`)
  t.ok(Math.max(...refused.map((r) => r.ms)) < 6_000, 'purchases fail fast, not hang')
  const down = await f.healthTurns(503)
  t.pass(`/health turns 503 within ${down.ms} ms`)
  t.equal(down.body.dependencies.postgres.status, 'down', 'and names Postgres as the dependency down')
  const { n: duringRows } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts`)[0]!

  const back = Date.now()
  await proxy.restore()
  const caughtUp = await eventually('every attempt persisted', async () => {
    const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts`)[0]!
    return n === attempts ? n : undefined
  }, 15_000)
  t.comment(`attempts in Postgres when cut: ${duringRows}; all ${caughtUp} persisted ${Date.now() - back} ms after restore`)
  t.equal(caughtUp, attempts, 'no checkout attempt lost')

  const bought = await Promise.all([early.body.code, ...codes].map((c) => call('POST', `/purchase?code=${c}`)))
  const recoveredMs = Date.now() - back
  const ms = bought.map((r) => r.ms).sort((a, b) => a - b)
  t.comment(`purchase latency after restore: median ${ms[ms.length >> 1]!.toFixed(0)} ms, max ${ms.at(-1)!.toFixed(0)} ms`)
  t.ok(recoveredMs < 45_000, 'purchases catch up within the bound')
  t.same(bought.filter((r) => r.status !== 200).map((r) => r.body), [], 'every reservation, refused ones included, is bought after')
  const { n, d } = (await sql<{ n: number; d: number }[]>`SELECT count(*)::int AS n, count(DISTINCT code)::int AS d FROM purchases`)[0]!
  t.equal(n, codes.length + 1, 'one purchase row per reservation')
  t.equal(d, n, 'no code twice')
  t.comment(`Postgres back to every purchase committed: ${recoveredMs} ms`)
  const sale = await call('GET', '/sale')
  t.match(sale.body, { units_sold: n, units_reserved: 0 })
  // Dependency pings are cached for a second: /health follows shortly after.
  t.pass(`/health 200 again within ${(await f.healthTurns(200, 5_000)).ms} ms`)
  t.equal((await service.stop('SIGTERM')).code, 0, 'shuts down cleanly')
})

function countBy (xs: number[]) {
  const out: Record<number, number> = {}
  for (const x of xs) out[x] = (out[x] ?? 0) + 1
  return out
}
