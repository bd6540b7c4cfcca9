import t, { type Test } from 'tap'
import { readdirSync } from 'node:fs'
import postgres from 'postgres'
import { MIGRATIONS_DIR } from '../src/migrate.ts'
import { freePort } from './helpers/free-port.ts'
import { spawnService } from '../kit/service-process.ts'
import { testDatabaseUrl, TEST_REDIS_URL } from './helpers/services.ts'

/** `npm run migrate` against `databaseUrl`: its exit and what it said. */
async function migrate (t: Test, databaseUrl: string) {
  const run = spawnService(t, 'npm', ['run', '--silent', 'migrate'], { DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL })
  return { exit: await run.exited, output: run.output() }
}

t.test('npm run migrate applies every pending migration, once', async (t) => {
  const url = await testDatabaseUrl(t, { migrated: false })
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort()

  const first = await migrate(t, url)
  t.same(first.exit, { code: 0, signal: null }, 'exits 0')
  t.match(first.output, `applied: ${files.join(', ')}`, 'names every migration it applied, in order')
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  const tables = await sql<{ name: string }[]>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`
  for (const table of ['checkout_attempts', 'purchases', 'sales', 'items']) {
    t.ok(tables.some((r) => r.name === table), `${table}, which others read, exists`)
  }

  const again = await migrate(t, url)
  t.same(again.exit, { code: 0, signal: null }, 'a second run exits 0')
  t.match(again.output, 'schema is up to date', 'and applies nothing')
})

t.test('npm run migrate with a Postgres that does not answer says where, and exits 1', async (t) => {
  const port = await freePort()
  const run = await migrate(t, `postgres://postgres:secret@127.0.0.1:${port}/flashsale`)
  t.same(run.exit, { code: 1, signal: null }, 'exits 1')
  t.match(run.output, new RegExp(`migrate failed: cannot reach Postgres at \\S*127\\.0\\.0\\.1:${port}`), 'names the address it tried')
  t.notMatch(run.output, /secret/, 'without the password')
  t.notMatch(run.output, /\n\s+at /, 'in one message, no stack trace')
})
