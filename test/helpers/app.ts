import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import type { Test } from 'tap'
import { loadConfig, type Config } from '../../src/config.ts'
import { build } from '../../src/server.ts'
import { createTestDatabase, TEST_REDIS_URL, uniqueName } from './services.ts'
import { setTimeout as delay } from 'node:timers/promises'

export const ADMIN_TOKEN = 'test-admin-token-0123456789'

export interface TestApp {
  app: FastifyInstance
  config: Config
  /** A connection of the test's own to the database the app uses. */
  sql: postgres.Sql
  /** A connection of the test's own to Redis. */
  redis: Redis
  /** Creates a sale that starts now through the operator API and returns its id. */
  createSale(body: Record<string, unknown>): Promise<number>
}

/**
 * Builds the app on its own database and key prefix, so test files never share state, and
 * tears everything down when the test ends. Sales come only from the operator API unless
 * the overrides say otherwise; background loops are fast so tests poll briefly.
 */
export async function buildTestApp (t: Test, overrides: Partial<Config> = {}): Promise<TestApp> {
  const db = await createTestDatabase()
  const config = loadConfig({}, {
    REDIS_URL: TEST_REDIS_URL,
    REDLOCK_REDIS_URLS: [TEST_REDIS_URL],
    DATABASE_URL: db.url,
    REDIS_KEY_PREFIX: uniqueName('t').replace(/_/g, '-'),
    ADMIN_TOKEN,
    SALE_SCHEDULE: 'off',
    LOG_LEVEL: (process.env.TEST_LOG_LEVEL as Config['LOG_LEVEL']) ?? 'silent',
    SWEEP_INTERVAL_MS: 50,
    SALE_REFRESH_MS: 200,
    ...overrides,
  })
  const app = await build(config)
  await app.ready()
  const sql = postgres(db.url, { max: 2, onnotice: () => {} })
  const redis = new Redis(TEST_REDIS_URL)
  t.teardown(async () => {
    await app.close()
    await sql.end()
    const keys = await redis.keys(`${config.REDIS_KEY_PREFIX}:*`)
    if (keys.length) await redis.del(...keys)
    await redis.quit()
    await db.drop()
  })
  return {
    app,
    config,
    sql,
    redis,
    async createSale (body) {
      const res = await app.inject({
        method: 'POST',
        url: '/admin/sales',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        payload: body,
      })
      if (res.statusCode !== 201) throw new Error(`create sale failed: ${res.statusCode} ${res.body}`)
      return res.json().sale_id as number
    },
  }
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function eventually<T> (check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await delay(25)
  }
}
