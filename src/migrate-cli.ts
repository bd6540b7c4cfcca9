import { loadConfig, ConfigError } from './config.js'
import { migrate } from './migrate.js'
import { createSql, assertReachable } from './plugins/postgres.js'
import { ensureLocalServices } from './local-services.js'

/** `npm run migrate`: applies pending migrations and exits. */
async function main() {
  const local = await ensureLocalServices(process.env)
  try {
    const config = loadConfig(process.env, local.overrides)
    const sql = createSql(config.DATABASE_URL, { max: 1, statementTimeoutMs: 0 })
    try {
      await assertReachable(sql, config.DATABASE_URL)
      const applied = await migrate(sql)
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date')
    } finally {
      await sql.end({ timeout: 5 })
    }
  } finally {
    await local.stop()
  }
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : `migrate failed: ${(err as Error).message}`)
  process.exit(1)
})
