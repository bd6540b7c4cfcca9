import fp from 'fastify-plugin'
import client from '@platformatic/prom-client'
import postgres, { type Sql } from 'postgres'
import { redactUrl } from '../../redact-url.ts'

export interface PostgresOptions {
  max: number
  statementTimeoutMs: number
}

/** One postgres.js pool per process; every statement is bounded by a server-side timeout. */
export function createSql (url: string, { max, statementTimeoutMs }: PostgresOptions): Sql {
  return postgres(url, {
    max,
    idle_timeout: 30,
    connect_timeout: 5,
    // postgres.js backs off up to 20 s after failed connects, so purchases would crawl for
    // that long after an outage; retry within half a second instead (jittered).
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5) * (0.5 + Math.random() / 2),
    onnotice: () => {},
    connection: { application_name: 'flashsale', statement_timeout: statementTimeoutMs },
  })
}

/** Checks that Postgres answers, with a message that says what to do when it does not. */
export async function assertReachable (sql: Sql, url: string): Promise<void> {
  try {
    await sql`SELECT 1`
  } catch (err) {
    throw new Error(`cannot reach Postgres at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err })
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    sql: Sql
  }
}

export default fp(
  async function postgresPlugin (fastify) {
    const { DATABASE_URL, DB_POOL_MAX, DB_STATEMENT_TIMEOUT_MS } = fastify.config
    const sql = createSql(DATABASE_URL, { max: DB_POOL_MAX, statementTimeoutMs: DB_STATEMENT_TIMEOUT_MS })
    try {
      await assertReachable(sql, DATABASE_URL)
    } catch (err) {
      await sql.end({ timeout: 0 })
      throw err
    }
    const { registry, dbInFlight } = fastify.meters
    new client.Gauge({
      name: 'flashsale_db_pool_connections',
      help: 'Postgres pool connections by state.',
      labelNames: ['state'],
      registers: [registry],
      collect () {
        this.set({ state: 'max' }, DB_POOL_MAX)
        this.set({ state: 'busy' }, Math.min(dbInFlight.count, DB_POOL_MAX))
        this.set({ state: 'waiting' }, Math.max(dbInFlight.count - DB_POOL_MAX, 0))
      },
    })
    fastify.decorate('sql', sql)
    fastify.addHook('onClose', async () => {
      await sql.end({ timeout: 5 })
    })
  },
  { name: 'postgres', dependencies: ['config', 'metrics'], fastify: '5.x' }
)
