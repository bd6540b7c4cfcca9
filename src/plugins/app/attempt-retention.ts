import fp from 'fastify-plugin'
import { dropExpiredAttempts } from '../../repositories/partitions.ts'
import { Ticker } from '../../sale/ticker.ts'

/** How often the attempt log is checked for sales past ATTEMPT_RETENTION_DAYS. */
export const RETENTION_INTERVAL_MS = 3_600_000

declare module 'fastify' {
  interface FastifyInstance {
    /** Drops the attempts past ATTEMPT_RETENTION_DAYS now (one instance at a time); the sales dropped. */
    dropExpiredAttempts(): Promise<number[]>
  }
}

/**
 * With ATTEMPT_RETENTION_DAYS set, every instance checks hourly (and at start) for sales that
 * ended longer ago and drops their attempt partitions; an advisory lock lets one instance do a
 * pass while the others skip it. Unset (0), nothing is ever dropped.
 */
export default fp(
  async function attemptRetention (fastify) {
    const days = fastify.config.ATTEMPT_RETENTION_DAYS
    const log = fastify.log.child({ component: 'attempt-retention' })
    const pass = async () => {
      const done = await dropExpiredAttempts(fastify.sql, days)
      if (done.sales.length > 0) log.info({ sales: done.sales, retention_days: days }, 'attempts of sales past retention dropped')
      return done.sales
    }
    fastify.decorate('dropExpiredAttempts', pass)
    if (days === 0) return
    const ticker = new Ticker(RETENTION_INTERVAL_MS, async () => { await pass() }, (err) => log.warn({ err }, 'attempt retention failed; will retry'))
    fastify.addHook('onReady', async () => { ticker.start() })
    fastify.addHook('onClose', async () => { await ticker.stop() })
  },
  { name: 'attempt-retention', dependencies: ['config', 'postgres'], fastify: '5.x' }
)
