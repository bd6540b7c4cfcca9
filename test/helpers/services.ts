import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import postgres from 'postgres'
import type { Test } from 'tap'
import { migrate } from '../../src/migrate.ts'

/**
 * Where the tests find Redis and a Postgres server they may create databases on. `.ci/run`
 * starts both when missing; these defaults are the local ones.
 */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const TEST_PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** A port nothing listens on right now on the loopback interface, picked by the kernel. */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

export function uniqueName (prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
}

/** A fresh, migrated database for one test file; dropped by the returned function. */
export async function createTestDatabase (): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = uniqueName('flashsale_test')
  const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(TEST_PG_ADMIN_URL)
  url.pathname = `/${name}`
  const sql = postgres(url.href, { max: 1, onnotice: () => {} })
  try {
    await migrate(sql)
  } finally {
    await sql.end()
  }
  return {
    url: url.href,
    drop: async () => {
      const a = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} })
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await a.end()
      }
    },
  }
}

/** A fresh database for this test and a connection of the test's own to it, both gone at teardown. */
export async function testDatabase (t: Test, max = 1): Promise<{ url: string; sql: postgres.Sql }> {
  const db = await createTestDatabase()
  t.teardown(() => db.drop())
  const sql = postgres(db.url, { max, onnotice: () => {} })
  t.teardown(() => sql.end())
  return { url: db.url, sql }
}
