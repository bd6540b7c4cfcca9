import { loadConfig, ConfigError } from './config.js'
import { migrate } from './migrate.js'
import { createSql, assertReachable } from './plugins/postgres.js'
import { ensureLocalServices } from './local-services.js'
import { serve } from './server.js'

/**
 * `npm start`: starts what a newcomer's machine lacks (Postgres, Redis) when no URL is given,
 * applies pending migrations, then serves until SIGTERM.
 */
async function main() {
  const local = await ensureLocalServices(process.env)
  let config
  try {
    config = loadConfig(process.env, local.overrides)
    const sql = createSql(config.DATABASE_URL, { max: 1, statementTimeoutMs: 0 })
    try {
      await assertReachable(sql, config.DATABASE_URL)
      await migrate(sql)
    } finally {
      await sql.end({ timeout: 5 })
    }
  } catch (err) {
    await local.stop()
    throw err
  }
  // What was started here stops with the service.
  await serve(config, local.stop).catch(async (err) => {
    await local.stop()
    throw err
  })
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : `flashsale failed to start: ${(err as Error).message}`)
  process.exit(1)
})
