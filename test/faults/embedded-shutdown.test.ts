import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { ensureLocalServices, type LocalOptions } from '../../launcher/local-services.ts'
import { createSale } from '../../kit/operator-client.ts'
import { freePort } from '../helpers/free-port.ts'
import { httpClient } from '../helpers/http-client.ts'
import { alive, killAll } from '../helpers/pids.ts'
import { ADMIN, LISTENING, spawnService, type ServiceProcess } from '../../kit/service-process.ts'

/**
 * The embedded mode end to end: the service starts its own Postgres and redis-server, takes
 * checkouts, and is told to stop the two ways people stop it. It must drain every attempt into
 * the Postgres it started before stopping it, and exit 0.
 */

interface Embedded extends ServiceProcess {
  base: string
  pids: { postgres: number; redis: number }
}

async function startEmbedded (t: Test, local: LocalOptions, ownGroup: boolean): Promise<Embedded> {
  const pids = { postgres: 0, redis: 0 }
  // What the service started must not outlive a test that failed half-way; teardowns run last
  // first, so this runs once the service itself is stopped.
  t.teardown(() => killAll([pids.postgres, pids.redis]))
  const proc = spawnService(t, process.execPath, ['test/helpers/embedded-server.ts'], {
    TEST_DATA_DIR: local.dataDir!,
    TEST_NOTHING_PORT: String(local.postgresPort),
    TEST_EMBEDDED_POSTGRES_PORT: String(local.embeddedPostgresPort),
    TEST_OWN_REDIS_PORT: String(local.ownRedisPort),
  }, { detached: ownGroup })
  const base = `http://127.0.0.1:${(await proc.shows(LISTENING))[2]}`
  pids.postgres = Number(readFileSync(join(local.dataDir!, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0])
  const redis = new Redis({ port: local.ownRedisPort!, host: '127.0.0.1' })
  pids.redis = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1])
  redis.disconnect()
  return { ...proc, base, pids }
}

async function attemptsIn (local: LocalOptions): Promise<number> {
  const again = await ensureLocalServices({}, { ...local, log: () => {} })
  const sql = postgres(again.overrides.DATABASE_URL!, { max: 1, onnotice: () => {} })
  try {
    return (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts`)[0]!.n
  } finally {
    await sql.end()
    await again.stop()
  }
}

const stops: [string, boolean, (s: Embedded) => void][] = [
  ['SIGTERM', false, (s) => s.signal('SIGTERM')],
  ['Ctrl-C (SIGINT to the whole foreground process group)', true, (s) => process.kill(-s.pid, 'SIGINT')],
]

for (const [how, ownGroup, stop] of stops) {
  t.test(`embedded mode, ${how}: drains into its own Postgres, stops it and redis-server, exits 0`, async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flashsale-embedded-'))
    await chmod(dataDir, 0o755)
    t.teardown(() => rm(dataDir, { recursive: true, force: true }))
    const local: LocalOptions = {
      dataDir, postgresPort: await freePort(), embeddedPostgresPort: await freePort(), ownRedisPort: await freePort(),
    }
    local.redisPort = local.postgresPort
    const service = await startEmbedded(t, local, ownGroup)
    const call = httpClient(t, service.base, 32)
    await createSale(call, ADMIN, { items: 200, stock_per_item: 1, per_user_limit: 10 })
    const answered = await Promise.all(Array.from({ length: 300 }, (_, i) => call('POST', `/checkout?user_id=u${i % 60}&id=${(i % 200) + 1}`)))
    t.ok(answered.every((r) => r.status === 200 || r.status === 409 || r.status === 429), 'checkouts answered')

    stop(service)
    const exit = await service.exited
    t.same(exit, { code: 0, signal: null }, 'exits 0')
    t.match(service.output(), /"msg":"shut down cleanly"/)
    t.notMatch(service.output(), /"level":50/, 'logs no error')
    t.notOk(alive(service.pids.postgres), 'the Postgres it started is stopped')
    t.notOk(alive(service.pids.redis), 'the redis-server it started is stopped')
    if (exit.code !== 0) t.comment(service.output().slice(-4000))

    t.equal(await attemptsIn(local), answered.length, 'every checkout answered is in its Postgres')
  })
}
