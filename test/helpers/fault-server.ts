import { loadConfig, ConfigError } from '../../src/config.ts'
import { serve } from '../../src/server.ts'

/**
 * The service process the fault tests run: configuration from the environment, then serve,
 * exactly as `npm start` does once its database is migrated (the tests migrate their own).
 */
try {
  await serve(loadConfig(process.env))
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : `flashsale failed to start: ${(err as Error).message}`)
  process.exit(1)
}
