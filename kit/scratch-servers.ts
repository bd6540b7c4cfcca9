import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { migrate } from '../src/migrate.ts'

/**
 * The servers on which the tests and the benchmark make what they need: Redis, and a Postgres
 * they may create databases on. TEST_REDIS_URL and TEST_PG_ADMIN_URL are the names the README
 * gives; the defaults are the local servers `.ci/run` starts. Not the service's configuration:
 * the service never reads these.
 */
export function scratchServers (env: Record<string, string | undefined>): { redisUrl: string; postgresAdminUrl: string } {
  return {
    redisUrl: env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    postgresAdminUrl: env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  }
}

/** A name no other run uses, for a database, a key prefix or a token. */
export function uniqueName (prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
}

export interface ScratchDatabase {
  url: string
  /** Drops the database, closing whatever is still connected to it. */
  drop(): Promise<void>
}

/** A fresh database on the server `adminUrl` names, with every migration applied unless told not to. */
export async function createScratchDatabase (
  adminUrl: string,
  { prefix = 'flashsale_test', migrated = true } = {}
): Promise<ScratchDatabase> {
  const name = uniqueName(prefix)
  await asAdmin(adminUrl, (admin) => admin.unsafe(`CREATE DATABASE ${name}`))
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  if (migrated) {
    const sql = postgres(url.href, { max: 1, onnotice: () => {} })
    try {
      await migrate(sql)
    } finally {
      await sql.end()
    }
  }
  return {
    url: url.href,
    drop: () => asAdmin(adminUrl, (admin) => admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  }
}

async function asAdmin (adminUrl: string, statement: (admin: postgres.Sql) => Promise<unknown>): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  try {
    await statement(admin)
  } finally {
    await admin.end()
  }
}
