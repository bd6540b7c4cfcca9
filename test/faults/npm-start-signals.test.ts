import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { ROOT } from '../../src/paths.ts'
import { ADMIN, startRedis, waitFor, type Exit } from '../helpers/fault-processes.ts'
import { alive, killAll } from '../helpers/processes.ts'
import { freePort, testDatabase } from '../helpers/services.ts'

/**
 * `npm start` as people stop it. npm runs the script through `sh -c` and forwards SIGTERM and
 * SIGINT to its child: the service must get them itself, and must not outlive npm.
 */

interface NpmStart {
  npm: number
  /** The service's own process id, from its log. */
  service: number
  output(): string
  exited: Promise<Exit>
}

async function npmStart (t: Test, ownGroup: boolean): Promise<NpmStart> {
  const { url } = await testDatabase(t)
  const redis = await startRedis(t)
  const port = await freePort()
  const child = spawn('npm', ['start', '--ignore-scripts'], {
    cwd: ROOT,
    detached: ownGroup,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      LOG_LEVEL: 'info',
      SALE_SCHEDULE: 'off',
      ADMIN_TOKEN: ADMIN,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: url,
      REDIS_URL: redis.url,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  let gone = false
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => {
    gone = true
    resolve({ code, signal })
  }))
  let service: number | undefined // eslint-disable-line prefer-const -- the teardown above reads it
  t.teardown(async () => {
    if (!gone) child.kill('SIGKILL')
    await exited
    killAll([service])
  })
  service = await waitFor('the service listening', async () => {
    if (gone) throw new Error(`npm start exited:\n${out}`)
    return Number(/"pid":(\d+)[^\n]*Server listening/.exec(out)?.[1]) || undefined
  }, 60_000)
  return { npm: child.pid!, service, output: () => out, exited }
}

t.test('SIGTERM to npm alone (`kill %1` after `npm start &`): the service drains and exits, and npm with it', async (t) => {
  const run = await npmStart(t, false)
  process.kill(run.npm, 'SIGTERM')
  t.same(await run.exited, { code: 0, signal: null }, 'npm exits 0')
  t.notOk(alive(run.service), 'the service is not left running')
  t.match(run.output(), /"signal":"SIGTERM","msg":"shutting down"[\s\S]*"msg":"shut down cleanly"/)
})

t.test('Ctrl-C (SIGINT to npm and the service, then forwarded once more by npm): one clean shutdown, exit 0', async (t) => {
  const run = await npmStart(t, true)
  process.kill(-run.npm, 'SIGINT')
  t.same(await run.exited, { code: 0, signal: null }, 'npm exits 0')
  t.notOk(alive(run.service), 'the service is gone')
  t.equal(run.output().match(/"msg":"shut down cleanly"/g)?.length, 1, 'shuts down cleanly, once')
})

t.test('npm killed outright: the service notices and shuts down by itself', async (t) => {
  const run = await npmStart(t, false)
  process.kill(run.npm, 'SIGKILL')
  await run.exited
  await waitFor('the service gone', async () => !alive(run.service), 10_000)
  t.match(run.output(), /"signal":"npm exited","msg":"shutting down"[\s\S]*"msg":"shut down cleanly"/)
})
