import postgres from 'postgres'
import type { Test } from 'tap'
import { createScratchDatabase, scratchServers } from '../../kit/scratch-servers.ts'

/** Where the tests find Redis and a Postgres server they may create databases on. */
export const { redisUrl: TEST_REDIS_URL, postgresAdminUrl: TEST_PG_ADMIN_URL } = scratchServers(process.env)

/** A fresh database for this test (migrated unless told not to), dropped at teardown. */
export async function testDatabaseUrl (t: Test, { migrated = true } = {}): Promise<string> {
  const db = await createScratchDatabase(TEST_PG_ADMIN_URL, { migrated })
  t.teardown(() => db.drop())
  return db.url
}

/** A fresh database for this test and a connection of the test's own to it, both gone at teardown. */
export async function testDatabase (t: Test, max = 1): Promise<{ url: string; sql: postgres.Sql }> {
  const url = await testDatabaseUrl(t)
  const sql = postgres(url, { max, onnotice: () => {} })
  t.teardown(() => sql.end())
  return { url, sql }
}
