import t, { type Test } from 'tap'
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../../src/paths.ts'
import { LISTENING, spawnService } from '../../kit/service-process.ts'
import { testDatabaseUrl, TEST_REDIS_URL } from '../helpers/services.ts'

/**
 * The image's tree: what the Dockerfile's runtime stage copies from the project (not from an
 * earlier stage), with the project's node_modules in place of the production install.
 */
async function imageTree (t: Test): Promise<string> {
  const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8')
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
  const copies = [...runtime.matchAll(/^COPY (?:--chown=\S+ )*([^-\s]\S*) (\S+)$/gm)].map(([, from, to]) => [from!, to!] as const)
  const dir = await mkdtemp(join(tmpdir(), 'flashsale-image-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const [from, to] of copies) await cp(join(ROOT, from), join(dir, to, to.endsWith('/') ? from : ''), { recursive: true })
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

t.test('the image carries what production runs and nothing else', async (t) => {
  const dir = await imageTree(t)
  for (const room of ['src', 'lua', 'migrations']) t.ok(existsSync(join(dir, room)), `${room}/ is in the image`)
  for (const room of ['launcher', 'kit', 'bench', 'test']) t.notOk(existsSync(join(dir, room)), `${room}/ is not`)

  t.test('the service starts there when the environment names Postgres and Redis', async (t) => {
    const env = { DATABASE_URL: await testDatabaseUrl(t, { migrated: false }), REDIS_URL: TEST_REDIS_URL }
    const service = spawnService(t, process.execPath, ['src/start.ts'], env, { cwd: dir })
    const port = Number((await service.shows(LISTENING))[2])
    const live = await fetch(`http://127.0.0.1:${port}/health/live`)
    t.equal(live.status, 200, 'and answers')
    t.same(await service.stop('SIGTERM'), { code: 0, signal: null }, 'SIGTERM drains it and it exits 0')
  })

  t.test('without a URL it says which one is missing, and that there is no launcher to find one', async (t) => {
    const service = spawnService(t, process.execPath, ['src/start.ts'], { REDIS_URL: TEST_REDIS_URL }, { cwd: dir })
    t.same(await service.exited, { code: 1, signal: null }, 'exits 1')
    t.match(service.output(), /invalid configuration:\n\s+DATABASE_URL: required here \(this installation has no launcher\/ to find or start a local server\)/)
    t.notMatch(service.output(), /REDIS_URL/, 'names only what is missing')
    t.notMatch(service.output(), /\n\s+at /, 'in one message, no stack trace')
  })
})
