import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Sql } from 'postgres'
import { ROOT } from './paths.ts'

export const MIGRATIONS_DIR = join(ROOT, 'migrations')

/**
 * Applies the numbered SQL files in migrations/ that have not run yet, all in one
 * transaction, under an advisory lock so that instances starting together apply each once.
 * Returns the names applied.
 */
export async function migrate (sql: Sql, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d+_[\w-]+\.sql$/.test(f)).sort()
  const applied: string[] = []
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext('flashsale:migrations'))`
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`
    const done = new Set((await tx<{ name: string }[]>`SELECT name FROM schema_migrations`).map((r) => r.name))
    for (const file of files) {
      if (done.has(file)) continue
      await tx.unsafe(await readFile(join(dir, file), 'utf8'))
      await tx`INSERT INTO schema_migrations (name) VALUES (${file})`
      applied.push(file)
    }
  })
  return applied
}
