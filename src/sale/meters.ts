import type { Spans } from './spans.ts'

/**
 * What the sale domain decides and does, by the fixed names it is counted and timed under, and
 * the meters it records them with. The sale-meters plugin implements SaleMeters; these lists are
 * every value a label of the domain's metrics can take.
 */
export const CHECKOUT_RESULTS = [
  'success', 'sold_out', 'user_limit', 'item_not_found', 'sale_not_active', 'invalid', 'rate_limited', 'abandoned', 'error',
] as const
export type CheckoutResult = (typeof CHECKOUT_RESULTS)[number]

export const PURCHASE_RESULTS = [
  'success', 'replay', 'code_not_found', 'code_expired', 'lock_busy', 'invalid', 'rate_limited', 'abandoned', 'error',
] as const
export type PurchaseResult = (typeof PURCHASE_RESULTS)[number]

/**
 * Whether the buyer of a request still waits for its answer. When not, `left` tells a buyer who
 * closed the connection first (the attempt is `abandoned`: not an error) from one answered 503 at
 * the deadline (`error`).
 */
export interface Waiting {
  (): boolean
  left?: () => boolean
}

/** How a reservation left committing by a crash ended: bought, back to stock, or reserved again. */
export const SETTLE_OUTCOMES = ['sold', 'returned', 'reserved'] as const
export type SettleOutcome = (typeof SETTLE_OUTCOMES)[number]

/** Postgres queries, by name. */
export const QUERIES = [
  'purchase_insert', 'purchase_by_code', 'attempts_insert', 'attempts_dead_letter', 'sales_recent', 'sale_by_id', 'sale_create',
  'sale_sold_counts', 'ping',
] as const
export type QueryName = (typeof QUERIES)[number]

/** Redis commands and Lua scripts, by name. */
export const REDIS_COMMANDS = [
  'checkout', 'checkout_cancel', 'stock_take', 'stock_give', 'transfer_done', 'transfers_read',
  'purchase_begin', 'purchase_settle', 'rate_count', 'sweep', 'sale_sync', 'sale_load',
  'sale_read', 'items_read', 'xreadgroup', 'xack', 'xautoclaim', 'xlen', 'ping',
] as const
export type RedisCommand = (typeof REDIS_COMMANDS)[number]

export interface Count {
  inc(n?: number): void
}

/** The sale's meters; the spans mark its steps in a request's trace when tracing is on. */
export interface SaleMeters extends Spans {
  checkout: Readonly<Record<CheckoutResult, Count>>
  purchase: Readonly<Record<PurchaseResult, Count>>
  settled: Readonly<Record<SettleOutcome, Count>>
  /** Reservations whose unit went back to stock when they expired. */
  expired: Count
  /** Reservations released because their buyer was answered 503 or left. */
  cancelled: Count
  attemptsPersisted: Count
  attemptsDropped: Count
  attemptsDeadLettered: Count
  /** Runs a Redis call, timed and counted under its name. */
  redis<T>(command: RedisCommand, run: () => Promise<T>): Promise<T>
  /** Runs a Postgres query, timed and counted under its name. */
  db<T>(query: QueryName, run: () => Promise<T>): Promise<T>
}
