import type { Sql } from 'postgres'

export interface AttemptRow {
  sale_id: number | null
  user_id: string | null
  item_id: number | null
  result: string
  code: string | null
  created_at: Date
  /** Entry id in the sale's attempt stream; null for attempts recorded in-process. */
  stream_id: string | null
}

/**
 * One insert for a whole batch, as seven arrays rather than seven parameters a row: far less to
 * encode and parse. A row already written (same sale and stream entry) is skipped.
 */
export async function insertAttempts(sql: Sql, rows: readonly AttemptRow[]): Promise<void> {
  if (rows.length === 0) return
  const n = rows.length
  const sale = new Array<number | null>(n)
  const user = new Array<string | null>(n)
  const item = new Array<number | null>(n)
  const result = new Array<string>(n)
  const code = new Array<string | null>(n)
  const at = new Array<string>(n)
  const stream = new Array<string | null>(n)
  for (let i = 0; i < n; i++) {
    const r = rows[i]!
    sale[i] = r.sale_id
    user[i] = r.user_id
    item[i] = r.item_id
    result[i] = r.result
    code[i] = r.code
    at[i] = r.created_at.toISOString()
    stream[i] = r.stream_id
  }
  await sql`
    INSERT INTO checkout_attempts (sale_id, user_id, item_id, result, code, created_at, stream_id)
    SELECT * FROM unnest(${sale}::bigint[], ${user}::text[], ${item}::bigint[], ${result}::text[],
                         ${code}::text[], ${at}::timestamptz[], ${stream}::text[])
    ON CONFLICT (sale_id, stream_id) DO NOTHING`
}
