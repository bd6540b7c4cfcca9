import t from 'tap'
import { eventually } from '../helpers/eventually.ts'
import { faultSetup } from '../helpers/fault-setup.ts'
import type { Reply } from '../helpers/http-client.ts'

const UNITS = 300
const KILL_AFTER = 80

t.test('SIGKILL during a purchase storm, then restart: nothing lost, nothing sold twice', async (t) => {
  const f = await faultSetup(t, {
    env: { COMMIT_LEASE_MS: '1000', SWEEP_INTERVAL_MS: '100', SALE_REFRESH_MS: '200' },
    connections: 96,
  })
  const { db: { sql }, redis, call, service: first } = f
  // A little database latency widens the window in which purchases are mid-commit.
  f.proxy.latencyMs = 5
  const saleId = await f.createSale({ items: UNITS, stock_per_item: 1, per_user_limit: 10, reservation_ttl_seconds: 600 })
  const codes: string[] = []
  for (let batch = 0; batch < UNITS; batch += 50) {
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      call('POST', `/checkout?user_id=buyer${(batch + i) % 40}&id=${batch + i + 1}`)))
    for (const r of replies) if (r.status === 200) codes.push(r.body.code)
  }
  t.equal(codes.length, UNITS, 'every unit reserved before the storm')

  // The storm: every code purchased, some twice at once; the process dies mid-way.
  const answered = new Map<string, string>()
  let failed = 0
  const storm = [...codes, ...codes.slice(0, 60)].map(async (code) => {
    let r: Reply
    try {
      r = await call('POST', `/purchase?code=${code}`)
    } catch {
      failed++
      return
    }
    if (r.status !== 200) return
    const seen = answered.get(code)
    if (seen !== undefined) t.equal(r.body.purchase_id, seen, 'one purchase_id per code')
    answered.set(code, r.body.purchase_id)
    if (answered.size === KILL_AFTER) process.kill(first.pid, 'SIGKILL')
  })
  await Promise.all(storm)
  const death = await first.exited
  t.equal(death.signal, 'SIGKILL', 'the service was killed mid-storm', { exit: death, output: first.output() })
  t.ok(answered.size >= KILL_AFTER, `purchases answered 200 before the kill: ${answered.size}`)
  t.ok(failed > 0, `requests cut by the kill: ${failed}`)

  const keys = await f.keys(saleId)
  const states = () => f.states(saleId)
  const stranded = (await states()).C
  t.comment(`reservations left committing by the kill: ${stranded}`)

  const restartedAt = Date.now()
  const { service: second, call: call2 } = await f.startInstance()
  let last = {}
  const settled = await eventually('stranded reservations settled', async () => {
    const s = await states()
    const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM purchases`)[0]!
    const sold = Number(await redis.client.hget(keys.meta, 'sold'))
    last = { ...s, rows: n, sold }
    return s.C === 0 && sold === n ? { ...s, rows: n as number } : undefined
  }, 15_000).catch((err) => {
    t.comment(JSON.stringify(last), second.output())
    throw err
  })
  const recoveryMs = Date.now() - restartedAt
  t.comment(`restart to every stranded unit settled: ${recoveryMs} ms (${JSON.stringify(settled)})`)
  t.ok(recoveryMs < 12_000, 'stranded units settled within seconds of the restart')
  t.equal(settled.S, settled.rows, 'Redis marks sold exactly the units Postgres has')
  t.equal(settled.S + settled.R, UNITS, 'every unit is either sold or reserved again: none stranded')

  const rows = await sql<{ code: string; id: string; item_id: number }[]>`SELECT code, id::text, item_id FROM purchases`
  const byCode = new Map(rows.map((r) => [r.code, r.id]))
  for (const [code, pid] of answered) {
    if (byCode.get(code) !== pid) t.fail(`purchase ${code} answered ${pid} but Postgres has ${byCode.get(code)}`)
  }
  t.pass(`all ${answered.size} answered purchases stand with the same purchase_id`)
  const items = new Set(rows.map((r) => r.item_id))
  t.equal(items.size, rows.length, 'no unit sold twice')

  // Every code can now be bought (or is answered again), exactly once each. A code whose lock the
  // killed process held answers 409 purchase_in_progress until that lock expires (LOCK_TTL_MS,
  // 5 s by default, from its acquisition); a client retries it, as the answer says.
  let inProgress = 0
  const after = await Promise.all(codes.map((code) =>
    eventually(`an answer other than purchase_in_progress for ${code}`, async () => {
      const r = await call2('POST', `/purchase?code=${code}`)
      if (r.body?.error !== 'purchase_in_progress') return r
      inProgress++
      return undefined
    }, 7_000)))
  t.comment(`answers of purchase_in_progress while the dead process's locks lived: ${inProgress}`)
  t.same(after.filter((r) => r.status !== 200).map((r) => r.body), [], 'every code purchasable after restart')
  for (const [i, r] of after.entries()) {
    const pid = answered.get(codes[i]!)
    if (pid !== undefined && r.body.purchase_id !== pid) t.fail(`replay of ${codes[i]} changed its purchase_id`)
  }
  const { n, d } = (await sql<{ n: number; d: number }[]>`SELECT count(*)::int AS n, count(DISTINCT item_id)::int AS d FROM purchases`)[0]!
  t.equal(n, UNITS, 'one row per unit')
  t.equal(d, UNITS, 'one row per item of stock 1')
  const sale = await call2('GET', '/sale')
  t.match(sale.body, { units_sold: UNITS, units_reserved: 0, units_available: 0 })
  t.equal((await second.stop('SIGTERM')).code, 0, 'restarted service shuts down cleanly')
})

/**
 * A crash between two steps of a group commit: a batch whose statement never reached Postgres
 * (its bytes held, then dropped with the connection), and a batch Postgres committed whose answer
 * the service never heard. Either way every reservation of the batch settles by what Postgres
 * holds, and each code is bought exactly once after the restart.
 */
for (const stage of ['before the commit', 'after the commit, before settling'] as const) {
  t.test(`SIGKILL mid-batch, ${stage}: the batch heals whole`, async (t) => {
    const { service, call, db: { sql }, redis, proxy, createSale, keys: keysOf, states: statesOf, startInstance } = await faultSetup(t, {
      env: { COMMIT_LEASE_MS: '1000', SWEEP_INTERVAL_MS: '100', SALE_REFRESH_MS: '200', REQUEST_DEADLINE_MS: '20000' },
      connections: 64,
    })
    const saleId = await createSale({ items: 40, stock_per_item: 1, per_user_limit: 40, reservation_ttl_seconds: 600 })
    const codes = (await Promise.all(Array.from({ length: 40 }, (_, i) => call('POST', `/checkout?user_id=b&id=${i + 1}`))))
      .map((r) => r.body.code as string)
    const keys = await keysOf(saleId)

    if (stage === 'before the commit') proxy.hold()
    else proxy.replyLatencyMs = 3_000
    const purchases = codes.map((code) => call('POST', `/purchase?code=${code}`).catch(() => undefined))
    await eventually('every reservation committing, and for the second stage a batch committed', async () => {
      if ((await statesOf(saleId)).C < codes.length) return false
      if (stage === 'before the commit') return true
      const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM purchases`)[0]!
      return n > 0
    })
    process.kill(service.pid, 'SIGKILL')
    await service.exited
    await Promise.all(purchases)
    await proxy.cut()
    await proxy.restore()
    const committed = new Set((await sql<{ code: string }[]>`SELECT code FROM purchases`).map((r) => r.code))
    if (stage === 'before the commit') t.equal(committed.size, 0, 'nothing reached Postgres')
    else t.ok(committed.size > 0, `Postgres committed ${committed.size} purchases the service never heard of`)

    const { call: call2 } = await startInstance()
    const states = await eventually('the batch settled', async () => {
      const s = await statesOf(saleId)
      return s.C === 0 ? s : undefined
    })
    t.same(states, { R: 40 - committed.size, C: 0, S: committed.size, X: 0 }, 'every reservation settled by what Postgres holds')
    for (const code of codes) {
      const [state] = (await redis.client.hget(keys.res, code))!.split('|')
      if ((state === 'S') !== committed.has(code)) t.fail(`${code} is ${state} in Redis, ${committed.has(code) ? '' : 'not '}in Postgres`)
    }
    const after = await Promise.all(codes.map((code) => call2('POST', `/purchase?code=${code}`)))
    t.same([...new Set(after.map((r) => r.status))], [200], 'every code bought after the restart')
    const { n, d } = (await sql<{ n: number; d: number }[]>`SELECT count(*)::int AS n, count(DISTINCT code)::int AS d FROM purchases`)[0]!
    t.same([n, d], [40, 40], 'exactly once each')
    t.match((await call2('GET', '/sale')).body, { units_sold: 40, units_reserved: 0, units_available: 0 })
  })
}
