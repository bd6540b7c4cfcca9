import type { FastifyBaseLogger } from 'fastify'
import type { Sql } from 'postgres'
import type { Config } from '../config.ts'
import type { Locks } from './locks.ts'
import type { SaleMeters } from './meters.ts'
import type { RedisClient } from './redis-client.ts'
import type { SaleScripts } from './scripts.ts'

export type { RedisClient }

/** What the sale domain needs from the app: its clients, configuration and meters. */
export interface SaleContext {
  config: Config
  redis: RedisClient
  scripts: SaleScripts
  sql: Sql
  locks: Locks
  meters: SaleMeters
  log: FastifyBaseLogger
}
