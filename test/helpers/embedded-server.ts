import type { LocalOptions } from '../../launcher/local-services.ts'
import { runService } from '../../src/run-service.ts'

/**
 * `npm start` as the embedded-mode tests run it: the same runService, but told where nothing
 * answers (so it starts its own Postgres and redis-server even on a machine that has both) and
 * where its data and servers go.
 */
const env = process.env
const port = (name: string) => Number(env[name])
await runService(env, {
  dataDir: env.TEST_DATA_DIR,
  postgresPort: port('TEST_NOTHING_PORT'),
  redisPort: port('TEST_NOTHING_PORT'),
  embeddedPostgresPort: port('TEST_EMBEDDED_POSTGRES_PORT'),
  ownRedisPort: port('TEST_OWN_REDIS_PORT'),
} satisfies LocalOptions)
