import type { Sql } from 'postgres'

export interface AttemptRow {
  /** Unique per attempt: a request recorded twice (in process and in its stream) is one row. */
  attempt_key: string
  sale_id: number | null
  user_id: string | null
  item_id: number | null
  result: string
  code: string | null
  created_at: Date
  /** Entry id in the sale's attempt stream; null for attempts recorded in-process. */
  stream_id: string | null
  /** An invalid attempt's item and user values as the client sent them. */
  item_sent?: string | null
  user_sent?: string | null
}

/**
 * One insert for a whole batch, as arrays rather than a row of parameters each: far less to
 * encode and parse. An attempt already written is skipped, except that an `error` or `abandoned`
 * outcome wins: it is what became of the buyer when Redis ran the script only after the request
 * gave up (answered 503, or left).
 */
/** Text longer than this is cut (and marked so): an attempt's fields are bounded whatever is sent. */
export const MAX_TEXT = 256
// NUL is exactly what no text column can hold.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /[\u0000\ud800-\udfff]/

/**
 * Text Postgres accepts, whatever a client sent: NUL (which no text column can hold) and lone
 * surrogates (which have no UTF-8) become U+FFFD, and over-long text is cut.
 */
export function storable (text: string, max = MAX_TEXT): string {
  if (text.length <= max && !UNSTORABLE.test(text)) return text
  const cut = text.length > max ? `${text.slice(0, max - 1)}\u2026` : text
  return cut.toWellFormed().replaceAll('\u0000', '\uFFFD')
}

export async function insertAttempts (sql: Sql, rows: readonly AttemptRow[]): Promise<void> {
  if (rows.length === 0) return
  const n = rows.length
  const key = new Array<string>(n)
  const sale = new Array<number | null>(n)
  const user = new Array<string | null>(n)
  const item = new Array<number | null>(n)
  const result = new Array<string>(n)
  const code = new Array<string | null>(n)
  const at = new Array<string>(n)
  const stream = new Array<string | null>(n)
  const itemSent = new Array<string | null>(n)
  const userSent = new Array<string | null>(n)
  for (let i = 0; i < n; i++) {
    const r = rows[i]!
    key[i] = r.attempt_key
    sale[i] = r.sale_id
    user[i] = r.user_id === null ? null : storable(r.user_id)
    item[i] = r.item_id
    result[i] = r.result
    code[i] = r.code === null ? null : storable(r.code)
    at[i] = r.created_at.toISOString()
    stream[i] = r.stream_id
    itemSent[i] = r.item_sent == null ? null : storable(r.item_sent)
    userSent[i] = r.user_sent == null ? null : storable(r.user_sent)
  }
  await sql`
    INSERT INTO checkout_attempts (attempt_key, sale_id, user_id, item_id, result, code, created_at, stream_id, item_sent, user_sent)
    SELECT * FROM unnest(${key}::text[], ${sale}::bigint[], ${user}::text[], ${item}::bigint[], ${result}::text[],
                         ${code}::text[], ${at}::timestamptz[], ${stream}::text[], ${itemSent}::text[], ${userSent}::text[])
    ON CONFLICT (sale_id, attempt_key) DO UPDATE SET result = excluded.result, code = NULL
      WHERE excluded.result IN ('error', 'abandoned') AND checkout_attempts.result NOT IN ('error', 'abandoned')`
}

export interface DeadLetter {
  attempt_key: string
  source: string
  raw: Buffer
  reason: string
}

/** Keeps an attempt Postgres refused, once. */
export async function insertDeadLetter (sql: Sql, d: DeadLetter): Promise<void> {
  await sql`
    INSERT INTO checkout_attempts_dead_letter (attempt_key, source, raw, reason)
    VALUES (${storable(d.attempt_key)}, ${storable(d.source)}, ${d.raw}, ${storable(d.reason, 2_000)})
    ON CONFLICT (attempt_key) DO NOTHING`
}

/**
 * SQLSTATE classes that blame the data, not the database: a data exception (22), an integrity
 * violation (23) or a program limit such as an over-long value (54). Retrying cannot help.
 */
export function isDataError (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code)
}
