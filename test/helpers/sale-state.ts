import type postgres from 'postgres'
import { saleKeys, type SaleKeys } from '../../src/sale/keys.ts'
import type { RedisClient } from '../../src/sale/redis-client.ts'

/** How many reservations of a sale are in each state: R reserved, C committing, S sold, X expired. */
export interface ReservationStates {
  R: number
  C: number
  S: number
  X: number
}

/** Counts the reservation states of a sale in Redis (its `res` hash). */
export async function reservationStates (redis: RedisClient, resKey: string): Promise<ReservationStates> {
  const all = await redis.hvals(resKey)
  const count = (s: string) => all.filter((v) => v.startsWith(`${s}|`)).length
  return { R: count('R'), C: count('C'), S: count('S'), X: count('X') }
}

/** The Redis keys of a sale under the service's default prefix, with the token Postgres gave it. */
export async function keysOfSale (sql: postgres.Sql, saleId: number, prefix = 'fs'): Promise<SaleKeys> {
  const [row] = await sql<{ token: string }[]>`SELECT token FROM sales WHERE id = ${saleId}`
  if (!row) throw new Error(`no sale ${saleId}`)
  return saleKeys(prefix, saleId, row.token)
}
