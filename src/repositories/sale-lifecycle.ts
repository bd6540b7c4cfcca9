import type { Sql } from 'postgres'
import type { SaleRow } from './sales.ts'

export type SaleState = 'scheduled' | 'active' | 'ended' | 'cancelled'

export interface SaleRecord extends SaleRow {
  created_at: Date
}

/**
 * Where a sale is in its life at `now`. A cancelled sale is one whose window was emptied
 * (`ends_at = starts_at`): by the operator, or by a sale created over it before it started.
 */
export function saleState (row: Pick<SaleRow, 'starts_at' | 'ends_at'>, now: number): SaleState {
  const start = row.starts_at.getTime()
  const end = row.ends_at.getTime()
  if (end <= start) return 'cancelled'
  if (now < start) return 'scheduled'
  return now < end ? 'active' : 'ended'
}

const COLUMNS = ['id', 'token', 'slot', 'starts_at', 'ends_at', 'per_user_limit', 'reservation_ttl_seconds', 'items',
  'stock_per_item', 'units_total', 'shards', 'created_at']

/** A page of every sale ever made, newest first (by start, then by id), and how many there are. */
export async function listSales (sql: Sql, offset: number, limit: number): Promise<{ total: number; rows: SaleRecord[] }> {
  const [rows, [count]] = await Promise.all([
    sql<SaleRecord[]>`SELECT ${sql(COLUMNS)} FROM sales ORDER BY starts_at DESC, id DESC OFFSET ${offset} LIMIT ${limit}`,
    sql<{ n: number }[]>`SELECT count(*)::int AS n FROM sales`,
  ])
  return { total: count!.n, rows }
}

export async function saleById (sql: Sql, id: number): Promise<SaleRecord | undefined> {
  const [row] = await sql<SaleRecord[]>`SELECT ${sql(COLUMNS)} FROM sales WHERE id = ${id}`
  return row
}

export type Transition =
  | { outcome: 'done'; sale: SaleRecord }
  | { outcome: 'not_found' }
  | { outcome: 'invalid'; sale: SaleRecord }

/**
 * Ends a running sale at `at`, or cancels one that has not started (its window emptied), under
 * the schedule's lock so that no sale is created over it meanwhile. Refused (`invalid`) when the
 * sale is not in the state the change applies to.
 */
export async function transitionSale (sql: Sql, id: number, change: 'end' | 'cancel', at: Date): Promise<Transition> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext('flashsale:schedule'))`
    const [sale] = await tx<SaleRecord[]>`SELECT ${tx(COLUMNS)} FROM sales WHERE id = ${id} FOR UPDATE`
    if (!sale) return { outcome: 'not_found' as const }
    const state = saleState(sale, at.getTime())
    if (state !== (change === 'end' ? 'active' : 'scheduled')) return { outcome: 'invalid' as const, sale }
    const [changed] = change === 'end'
      ? await tx<SaleRecord[]>`UPDATE sales SET ends_at = ${at} WHERE id = ${id} RETURNING ${tx(COLUMNS)}`
      : await tx<SaleRecord[]>`UPDATE sales SET ends_at = starts_at WHERE id = ${id} RETURNING ${tx(COLUMNS)}`
    return { outcome: 'done' as const, sale: changed! }
  })
}
