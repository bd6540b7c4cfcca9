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

export type ExportFormat = 'csv' | 'ndjson'

/** A CSV field (RFC 4180), quoted only when it holds a separator, a quote or a line break. */
const CSV_TEXT = (column: string) =>
  `CASE WHEN ${column} ~ '[",\r\n]' THEN '"' || replace(${column}, '"', '""') || '"' ELSE ${column} END`
/** Milliseconds and a Z, as JavaScript's toISOString writes it. */
const ISO_TIME = 'to_char(created_at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'

/** Each purchase as one line of the export, written by Postgres: no row object to build here. */
const LINE: Record<ExportFormat, string> = {
  csv: `concat_ws(',', id, ${CSV_TEXT('code')}, sale_id, item_id, ${CSV_TEXT('user_id')}, ${ISO_TIME})`,
  ndjson: `json_build_object('purchase_id', id::text, 'code', code, 'sale_id', sale_id, 'item_id', item_id,
                             'user_id', user_id, 'created_at', ${ISO_TIME})::text`,
}

/**
 * The next batch as one buffer. Its rows go out of scope here, before the buffer waits for the
 * socket: held across that wait, they would outlive young-generation collections and be
 * promoted, a row at a time, into the old generation.
 */
async function joined (batches: AsyncIterator<unknown[][]>, eol: string): Promise<Buffer | undefined> {
  const next = await batches.next()
  if (next.done === true) return undefined
  let out = ''
  for (const row of next.value) out += `${row[0] as string}${eol}`
  return Buffer.from(out)
}

/**
 * Every purchase of a sale in the order made, as lines of the export, read through a cursor
 * `batch` rows at a time: the next batch is fetched only when the caller asks for it, so memory
 * stays flat however many there are, and a slow reader slows the query instead of filling the
 * process. Each batch comes joined, one line per purchase, each line ending with a line break.
 * The export runs on a connection of its own without the statement timeout (a large export is
 * one long statement), which it restores before giving the connection back.
 */
export async function * purchaseLines (sql: Sql, saleId: number, format: ExportFormat, batch = 1_000): AsyncGenerator<Buffer> {
  const eol = format === 'csv' ? '\r\n' : '\n'
  const conn = await sql.reserve()
  let batches: AsyncIterator<unknown[][]> | undefined
  try {
    await conn`SET statement_timeout = 0`
    const query = conn.unsafe(`SELECT ${LINE[format]} FROM purchases WHERE sale_id = $1 ORDER BY id`, [saleId]).values()
    batches = query.cursor(batch)[Symbol.asyncIterator]()
    for (let chunk = await joined(batches, eol); chunk !== undefined; chunk = await joined(batches, eol)) yield chunk
  } finally {
    // A reader gone half-way: the cursor is closed before its connection is given back.
    await Promise.resolve(batches?.return?.()).catch(() => {})
    await conn`RESET statement_timeout`.catch(() => {})
    conn.release()
  }
}
