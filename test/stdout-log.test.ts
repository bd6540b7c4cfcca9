import t from 'tap'
import { faultSetup } from './helpers/fault-setup.ts'

// A terminal that closes takes the service's stdout with it, then sends SIGHUP: every log line
// of the shutdown fails to write. The shutdown must go on regardless.
t.test('a closed terminal: with its stdout gone, SIGHUP still drains every attempt and exits 0', async (t) => {
  const { service, call, createSale, db: { sql } } = await faultSetup(t)
  await createSale({ items: 5, stock_per_item: 1 })
  const answered = await Promise.all(Array.from({ length: 20 }, (_, i) => call('POST', `/checkout?user_id=u${i}&id=${(i % 5) + 1}`)))
  t.same([...new Set(answered.map((r) => r.status))].sort(), [200, 409], 'checkouts answered')

  service.closeStdout()
  service.signal('SIGHUP')
  const exit = await service.exited
  t.same(exit, { code: 0, signal: null }, 'exits 0')
  if (exit.code !== 0) t.comment(service.output())
  const { n } = (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts`)[0]!
  t.equal(n, answered.length, 'every attempt answered is in Postgres')
})
