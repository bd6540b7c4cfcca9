import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import postgres from 'postgres'
import type { Test } from 'tap'
import { loadConfig, type Config } from '../../src/config.ts'
import { answerBody, createSale, type Send } from '../../kit/operator-client.ts'
import { uniqueName } from '../../kit/scratch-servers.ts'
import { build } from '../../src/server.ts'
import { testDatabaseUrl } from './services.ts'
import { dropKeys, testRedisClient, testRedisConfig } from './test-redis.ts'
import type { RedisClient } from '../../src/sale/redis-client.ts'

export const ADMIN_TOKEN = 'test-admin-token-0123456789'

export interface TestApp {
  app: FastifyInstance
  config: Config
  /** A connection of the test's own to the database the app uses. */
  sql: postgres.Sql
  /** A client of the test's own to the app's Redis (a server, or a cluster). */
  redis: RedisClient
  /** The operator API's client transport, in process. */
  send: Send
  /** Creates a sale that starts now through the operator API and returns its id. */
  createSale(body: Record<string, unknown>): Promise<number>
}

/**
 * Builds the app on its own database (unless the overrides name one) and key prefix, so test
 * files never share state, and tears everything down when the test ends. Sales come only from
 * the operator API unless the overrides say otherwise; background loops are fast so tests poll
 * briefly. `extend` adds what a test needs (a route of its own) before the app is ready;
 * `options` replaces the server's options (its logger, say).
 */
export async function buildTestApp (
  t: Test,
  overrides: Partial<Config> = {},
  extend: (app: FastifyInstance) => void = () => {},
  options?: (config: Config) => FastifyServerOptions
): Promise<TestApp> {
  const databaseUrl = overrides.DATABASE_URL ?? await testDatabaseUrl(t)
  const config = loadConfig({}, {
    // A test that names a Redis of its own gets it, cluster or not.
    ...(overrides.REDIS_URL ? {} : testRedisConfig()),
    DATABASE_URL: databaseUrl,
    REDIS_KEY_PREFIX: uniqueName('t').replace(/_/g, '-'),
    ADMIN_TOKEN,
    SALE_SCHEDULE: 'off',
    LOG_LEVEL: (process.env.TEST_LOG_LEVEL as Config['LOG_LEVEL']) ?? 'silent',
    SWEEP_INTERVAL_MS: 50,
    SALE_REFRESH_MS: 200,
    // A busy machine stalls the event loop past the default bound and the app would shed the test's
    // requests; shedding has tests of its own that ask for it.
    LOAD_SHED_EVENT_LOOP_DELAY_MS: 0,
    ...overrides,
  })
  const app = await build(config, options?.(config))
  extend(app)
  await app.ready()
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => {} })
  const redis = testRedisClient()
  // Teardowns run last first: the app closes before its database is dropped.
  t.teardown(async () => {
    await app.close()
    await sql.end()
    await dropKeys(redis, config.REDIS_KEY_PREFIX)
    await redis.quit()
  })
  const send = injectSend(app)
  return { app, config, sql, redis, send, createSale: (body) => createSale(send, ADMIN_TOKEN, body) }
}

/** The operator client's transport over `app.inject`: no socket, same answers. */
export function injectSend (app: FastifyInstance): Send {
  return async (method, path, options = {}) => {
    const res = await app.inject({ method, url: path, headers: options.headers, payload: options.body })
    return { status: res.statusCode, body: answerBody(res.body) }
  }
}
