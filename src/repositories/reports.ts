import type { Sql } from 'postgres'

/** What Postgres knows of how a sale went (attempts reach it within a moment of being made). */
export interface SaleFacts {
  /** Checkout attempts by outcome (`success` is a reservation made). */
  attempts: Record<string, number>
  purchases: number
  distinctBuyers: number
  /** Most purchases in one calendar minute. */
  peakPerMinute: number
  /** When the last purchase was made, or null. */
  lastPurchaseAt: Date | null
}

export async function saleFacts (sql: Sql, saleId: number): Promise<SaleFacts> {
  const [attempts, [purchases], [peak]] = await Promise.all([
    sql<{ result: string; n: number }[]>`
      SELECT result, count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId} GROUP BY result ORDER BY result`,
    sql<{ n: number; buyers: number; last: Date | null }[]>`
      SELECT count(*)::int AS n, count(DISTINCT user_id)::int AS buyers, max(created_at) AS last
        FROM purchases WHERE sale_id = ${saleId}`,
    sql<{ n: number | null }[]>`
      SELECT max(n)::int AS n FROM (
        SELECT count(*) AS n FROM purchases WHERE sale_id = ${saleId} GROUP BY date_trunc('minute', created_at)) m`,
  ])
  return {
    attempts: Object.fromEntries(attempts.map((r) => [r.result, r.n])),
    purchases: purchases!.n,
    distinctBuyers: purchases!.buyers,
    peakPerMinute: peak!.n ?? 0,
    lastPurchaseAt: purchases!.last,
  }
}

export interface PurchaseExportRow {
  purchase_id: string
  code: string
  item_id: number
  user_id: string
  created_at: Date
}

/**
 * Every purchase of a sale in the order made, read through a cursor `batch` rows at a time: the
 * next batch is fetched only when the caller asks for it, so memory stays flat however many
 * there are and a slow reader slows the query instead of filling the process. The export runs
 * on a connection of its own without the statement timeout (a large export is one long
 * statement), which it restores before giving the connection back.
 */
export async function * purchaseBatches (sql: Sql, saleId: number, batch = 2_000): AsyncGenerator<PurchaseExportRow[]> {
  const conn = await sql.reserve()
  try {
    await conn`SET statement_timeout = 0`
    yield * conn<PurchaseExportRow[]>`
      SELECT id::text AS purchase_id, code, item_id, user_id, created_at
        FROM purchases WHERE sale_id = ${saleId} ORDER BY id`.cursor(batch)
  } finally {
    await conn`RESET statement_timeout`.catch(() => {})
    conn.release()
  }
}
