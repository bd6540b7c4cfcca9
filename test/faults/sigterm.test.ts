import t from 'tap'
import { eventually } from '../helpers/eventually.ts'
import { faultSetup } from '../helpers/fault-setup.ts'

const GRACE_MS = 8_000

t.test('SIGTERM under load: in-flight requests complete, attempt log drained, exit within grace', async (t) => {
  const f = await faultSetup(t, {
    env: {
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      // Purchases are held in flight by a slow database on purpose: no deadline cuts them short.
      REQUEST_DEADLINE_MS: String(GRACE_MS),
    },
    connections: 128,
  })
  const { db: { sql }, redis, proxy, service, call } = f
  const saleId = await f.createSale({ items: 400, stock_per_item: 1, per_user_limit: 10 })
  const keys = await f.keys(saleId)

  const reserved = await Promise.all(Array.from({ length: 30 }, (_, i) => call('POST', `/checkout?user_id=p${i}&id=${i + 1}`)))
  const codes = reserved.map((r) => r.body.code as string)

  // A slow database keeps purchases in flight; a burst of checkouts fills the attempt log.
  proxy.latencyMs = 400
  const purchases = codes.map((c) => call('POST', `/purchase?code=${c}`))
  await eventually('purchases mid-commit', async () => (await f.states(saleId)).C >= 20)
  const burst = await Promise.all(Array.from({ length: 300 }, (_, i) => call('POST', `/checkout?user_id=b${i % 40}&id=${(i % 370) + 31}`)))
  const backlog = await redis.client.xlen(keys.log)

  const termAt = Date.now()
  service.signal('SIGTERM')
  const answered = await Promise.allSettled(purchases)
  const exit = await service.exited
  const exitMs = Date.now() - termAt
  t.comment(`attempt stream backlog at SIGTERM: ${backlog}; exit ${exitMs} ms after SIGTERM (grace ${GRACE_MS} ms)`)

  const statuses = answered.map((a) => (a.status === 'fulfilled' ? a.value.status : String(a.reason)))
  t.same(statuses, codes.map(() => 200), 'every purchase in flight at SIGTERM completes with 200')
  t.equal(exit.code, 0, 'exits cleanly')
  if (exit.code !== 0) t.comment(service.output().slice(-4000))
  t.ok(exitMs < GRACE_MS, 'within the grace period')

  const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts`)[0]!
  t.equal(n, reserved.length + burst.length, 'every checkout attempt answered is in Postgres after exit')
  t.equal(await redis.client.xlen(keys.log), 0, 'the attempt stream is empty')
  const { p } = (await sql<{ p: number }[]>`SELECT count(*)::int AS p FROM purchases`)[0]!
  t.equal(p, codes.length, 'every purchase committed')
})
