import t from 'tap'
import { Redis } from 'ioredis'
import { isDependencyError, UnavailableError } from '../../src/errors.ts'
import { connectRedis } from '../../src/plugins/external/redis.ts'
import { saleKeys } from '../../src/sale/keys.ts'
import { saleScripts } from '../../src/sale/scripts.ts'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { freePort } from '../helpers/free-port.ts'
import { startRedis } from '../helpers/redis-server.ts'

/**
 * A Redis of the test's own that cannot serve for one reason at a time: each reason must reach a
 * buyer as 503 `unavailable` with Retry-After, never 500, and the refused checkout must still be
 * recorded. The error itself is also read from the service's own client, to prove which one it was.
 */
t.test('every way a Redis server refuses to serve answers 503 with Retry-After, and the attempt is kept', async (t) => {
  const node = await startRedis(t)
  const { app, sql, createSale } = await buildTestApp(t, { REDIS_URL: node.url, REDLOCK_REDIS_URLS: [node.url], REDIS_COMMAND_TIMEOUT_MS: 300 })
  const saleId = await createSale({ items: 50, stock_per_item: 10, per_user_limit: 50 })
  const admin = node.client
  const nowhere = await freePort()
  let n = 0

  /** Sets a fault, shows what the service's client gets, and what a buyer is answered. */
  const refused = async (what: string, code: RegExp, set: () => Promise<unknown>, clear: () => Promise<unknown>, read = false) => {
    await set()
    t.teardown(async () => { await clear().catch(() => {}) })
    const probe = read ? app.redis.get(`{probe}:${what}`) : app.redis.hincrby(`{probe}:${what}`, 'n', 1)
    const err = await probe.then(() => undefined, (e: Error) => e)
    t.match(err?.message, code, `${what}: the client gets ${code}`)
    t.ok(isDependencyError(err), `${what}: a dependency error`)
    const r = await app.inject({ method: 'POST', url: `/checkout?user_id=f${n++}&id=1` })
    t.equal(r.statusCode, 503, `${what}: checkout answers 503`)
    t.equal(r.json().error, 'unavailable', `${what}: unavailable`)
    t.ok(Number(r.headers['retry-after']) > 0, `${what}: with Retry-After`)
    await clear()
    await eventually(`${what} cleared`, async () => (await app.inject({ method: 'POST', url: '/checkout?user_id=ok&id=2' })).statusCode === 200)
  }

  await refused('READONLY', /^READONLY/,
    () => admin.replicaof('127.0.0.1', nowhere),
    () => admin.replicaof('NO', 'ONE'))
  await refused('MASTERDOWN', /^MASTERDOWN/,
    async () => { await admin.config('SET', 'replica-serve-stale-data', 'no'); await admin.replicaof('127.0.0.1', nowhere) },
    async () => { await admin.replicaof('NO', 'ONE'); await admin.config('SET', 'replica-serve-stale-data', 'yes') }, true)
  await refused('NOREPLICAS', /^NOREPLICAS/,
    () => admin.config('SET', 'min-replicas-to-write', '1'),
    () => admin.config('SET', 'min-replicas-to-write', '0'))
  // A script that runs past busy-reply-threshold: every other client is told BUSY until it is killed.
  const looper = new Redis(node.url, { maxRetriesPerRequest: 0 })
  looper.on('error', () => {})
  t.teardown(() => looper.disconnect())
  await refused('BUSY', /^BUSY/,
    async () => {
      await admin.config('SET', 'busy-reply-threshold', '20')
      void looper.eval('while true do end', 0).catch(() => {})
      await eventually('the script busy', async () => (await app.redis.ping().catch((e: Error) => e.message)) !== 'PONG')
    },
    async () => {
      await eventually('the script killed', async () => (await admin.script('KILL').then(() => true, (e: Error) => /NOTBUSY/.test(e.message))))
    })

  // A command sent to a server that then dies: the connection closes under it.
  node.pause()
  const pending = app.redis.get('{probe}:closed').then(() => undefined, (e: Error) => e)
  await node.kill()
  const closed = await pending
  t.match(closed?.message, /Connection is closed|max retries per request|Command timed out/, 'a command in flight when the server dies fails (or times out first, on a busy machine)')
  t.ok(isDependencyError(closed), 'a dependency error')
  const down = await app.inject({ method: 'POST', url: `/checkout?user_id=f${n++}&id=1` })
  t.equal(down.statusCode, 503, 'a checkout while the server is gone answers 503')
  t.ok(Number(down.headers['retry-after']) > 0, 'with Retry-After')
  await node.start()
  // Empty again (no persistence): the sale is reloaded from Postgres on the next refresh.
  await eventually('serving again', async () => (await app.inject({ method: 'POST', url: '/checkout?user_id=ok2&id=3' })).statusCode === 200, 20_000)

  // A server that stops answering: the command times out.
  node.pause()
  const hung = await app.redis.get('{probe}:hung').then(() => undefined, (e: Error) => e)
  node.resume()
  t.match(hung?.message, /Command timed out/, 'a command to a hung server times out')
  t.ok(isDependencyError(hung), 'a dependency error')

  // Every refused checkout is one row, recorded as the error its buyer was answered.
  const errors = await eventually('the refused checkouts recorded', async () => {
    const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId} AND user_id LIKE 'f%'`
    return row!.n >= n ? row!.n : undefined
  }, 10_000)
  t.equal(errors, n, 'one row per refused checkout')
  const results = await sql`SELECT user_id, result FROM checkout_attempts WHERE sale_id = ${saleId} AND user_id LIKE 'f%' ORDER BY user_id`
  t.same(results.map((r) => r.result), Array(n).fill('error'), 'each of them an error')
})

t.test('a WAIT that fails (its command timed out) confirms nothing: the checkout is refused, not answered', async (t) => {
  const node = await startRedis(t)
  // WAIT may block longer than a command may take: the command times out before WAIT answers.
  const client = await connectRedis(node.url, 200)
  t.teardown(() => client.disconnect())
  const plain = saleScripts(client)
  const durable = saleScripts(client, { replicas: 1, timeoutMs: 2_000 })
  const keys = saleKeys('wait', 1, 'tok')
  const now = Date.now()
  await plain.saleLoad(keys, { startsAt: now - 1_000, endsAt: now + 60_000, perUserLimit: 5, ttlMs: 60_000, expireAt: now + 120_000, owner: '1.tok' },
    1, 5, { shard: 0, shards: 1, mode: 'share', byItem: [], byUser: [] })
  const limits = { ipMax: 0, userMax: 0, windowMs: 1_000 }
  const err = await durable.checkout(keys, { ip: '127.0.0.1', user: 'ann', item: 1, code: 'code-1', limits }).then(() => undefined, (e: Error) => e)
  t.type(err, UnavailableError, 'refused as unavailable: no replica has the reservation')
  t.match((err?.cause as Error | undefined)?.message, /Command timed out/, 'because WAIT timed out')
})
