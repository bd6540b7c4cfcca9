import t, { type Test } from 'tap'
import { eventually } from '../helpers/eventually.ts'
import { alive, killAll } from '../helpers/pids.ts'
import { startRedis } from '../helpers/redis-server.ts'
import { LISTENING, spawnService, type ServiceProcess } from '../../kit/service-process.ts'
import { testDatabase } from '../helpers/services.ts'

/**
 * `npm start` as people stop it. npm runs the script through `sh -c` and forwards SIGTERM and
 * SIGINT to its child: the service must get them itself, and must not outlive npm.
 */

interface NpmStart extends ServiceProcess {
  /** The service's own process id, from its log. */
  service: number
}

async function npmStart (t: Test, ownGroup: boolean): Promise<NpmStart> {
  const { url } = await testDatabase(t)
  const redis = await startRedis(t)
  // Should npm go first, the service must not outlive the test either (teardowns run last first).
  const left: number[] = []
  t.teardown(() => killAll(left))
  const npm = spawnService(t, 'npm', ['start', '--ignore-scripts'], { DATABASE_URL: url, REDIS_URL: redis.url }, { detached: ownGroup })
  const service = Number((await npm.shows(LISTENING))[1])
  left.push(service)
  return { ...npm, service }
}

t.test('SIGTERM to npm alone (`kill %1` after `npm start &`): the service drains and exits, and npm with it', async (t) => {
  const run = await npmStart(t, false)
  process.kill(run.pid, 'SIGTERM')
  t.same(await run.exited, { code: 0, signal: null }, 'npm exits 0')
  t.notOk(alive(run.service), 'the service is not left running')
  t.match(run.output(), /"signal":"SIGTERM","msg":"shutting down"[\s\S]*"msg":"shut down cleanly"/)
})

t.test('Ctrl-C (SIGINT to npm and the service, then forwarded once more by npm): one clean shutdown, exit 0', async (t) => {
  const run = await npmStart(t, true)
  process.kill(-run.pid, 'SIGINT')
  t.same(await run.exited, { code: 0, signal: null }, 'npm exits 0')
  t.notOk(alive(run.service), 'the service is gone')
  t.equal(run.output().match(/"msg":"shut down cleanly"/g)?.length, 1, 'shuts down cleanly, once')
})

t.test('npm killed outright: the service notices and shuts down by itself', async (t) => {
  const run = await npmStart(t, false)
  process.kill(run.pid, 'SIGKILL')
  await run.exited
  await eventually('the service gone', async () => !alive(run.service), 10_000)
  t.match(run.output(), /"signal":"npm exited","msg":"shutting down"[\s\S]*"msg":"shut down cleanly"/)
})
