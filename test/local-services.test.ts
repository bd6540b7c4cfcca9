import t from 'tap'
import { mkdtemp, rm, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { ensureLocalServices } from '../src/local-services.js'
import { freePort, TEST_REDIS_URL } from './helpers/services.js'

t.test('uses the services already running and names nothing when the environment does', async (t) => {
  const named = await ensureLocalServices({ DATABASE_URL: 'postgres://x@h/db', REDIS_URL: 'redis://h:1' })
  t.same(named.overrides, {})
  await named.stop()

  const redis = new URL(TEST_REDIS_URL)
  const found = await ensureLocalServices({}, { redisHost: redis.hostname, redisPort: Number(redis.port || 6379) })
  t.teardown(found.stop)
  t.match(found.overrides, { DATABASE_URL: /^postgres:\/\/\w+@127\.0\.0\.1:5432\/flashsale$/ })
  t.notOk(found.overrides.REDIS_URL, 'the running Redis is used')
})

t.test('starts an embedded Postgres and redis-server when nothing answers', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'flashsale-local-'))
  await chmod(dataDir, 0o755)
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const [nothing, pgPort, redisPort] = [await freePort(), await freePort(), await freePort()]
  const lines: string[] = []
  const local = await ensureLocalServices({}, {
    dataDir, postgresPort: nothing, redisPort: nothing, embeddedPostgresPort: pgPort, ownRedisPort: redisPort,
    log: (l) => lines.push(l),
  })
  try {
    t.equal(lines.length, 2, 'says what it starts')
    const sql = postgres(local.overrides.DATABASE_URL!, { max: 1, onnotice: () => {} })
    const [row] = await sql`SELECT current_database() AS db`
    t.equal(row!.db, 'flashsale')
    await sql.end()
    const redis = new Redis(local.overrides.REDIS_URL!)
    t.equal(await redis.ping(), 'PONG')
    await redis.quit()
  } finally {
    await local.stop()
  }
  const after = new Redis(local.overrides.REDIS_URL!, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
  await t.rejects(after.connect(), 'the redis-server it started is stopped')
  after.disconnect()
})
