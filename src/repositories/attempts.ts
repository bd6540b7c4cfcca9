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

const COLUMNS = ['sale_id', 'user_id', 'item_id', 'result', 'code', 'created_at', 'stream_id'] as const

/** Multi-row insert; a row already written (same sale and stream entry) is skipped. */
export async function insertAttempts(sql: Sql, rows: readonly AttemptRow[]): Promise<void> {
  if (rows.length === 0) return
  await sql`
    INSERT INTO checkout_attempts ${sql(rows as AttemptRow[], ...COLUMNS)}
    ON CONFLICT (sale_id, stream_id) DO NOTHING`
}
