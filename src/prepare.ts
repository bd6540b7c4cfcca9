import { ConfigError, loadConfig, type Config } from './config.ts'
import { localServices, type LocalServices } from './launcher.ts'
import { migrate } from './migrate.ts'
import { assertReachable, createSql } from './plugins/external/postgres.ts'

/**
 * What `npm start` and `npm run migrate` do first: find or start local services when no URL is
 * given, validate the configuration, apply pending migrations. On failure, what was started
 * here is stopped again.
 */
export async function prepare (env: Record<string, string | undefined>, localOptions: object = {}): Promise<{
  config: Config
  local: LocalServices
  applied: string[]
}> {
  const local = await localServices(env, localOptions)
  try {
    const config = loadConfig(env, local.overrides)
    const sql = createSql(config.DATABASE_URL, { max: 1, statementTimeoutMs: 0 })
    try {
      await assertReachable(sql, config.DATABASE_URL)
      return { config, local, applied: await migrate(sql) }
    } finally {
      await sql.end({ timeout: 5 })
    }
  } catch (err) {
    await local.stop()
    throw err
  }
}

/** Says why a command failed, in one plain message, and exits non-zero. */
export function exitWith (command: string) {
  return (err: unknown): never => {
    console.error(err instanceof ConfigError ? err.message : `${command} failed: ${(err as Error).message}`)
    process.exit(1)
  }
}
