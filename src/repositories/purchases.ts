import type { Sql } from 'postgres'

export interface PurchaseRow {
  id: string
  code: string
  sale_id: number
  item_id: number
  user_id: string
}

export interface NewPurchase {
  code: string
  saleId: number
  itemId: number
  userId: string
}

/**
 * Inserts the purchases of many reservations in one statement (one transaction, one WAL flush),
 * or finds those that exist already: the unique code makes a second purchase of one code
 * impossible whatever the locks did. Answers in the order given.
 *
 * The insert touches the table only through its unique index, and each code another purchase
 * took first (rare, behind the code's lock) is read by that index in a statement of its own: a
 * prepared statement keeps the plan it was given while the table was small, and a join of the
 * batch with `purchases` planned on an empty table reads the whole table on every batch after.
 */
export async function insertPurchases (sql: Sql, rows: readonly NewPurchase[]): Promise<{ id: string; inserted: boolean }[]> {
  const codes = rows.map((r) => r.code)
  const inserted = await sql<{ code: string; id: string }[]>`
    INSERT INTO purchases (code, sale_id, item_id, user_id)
    SELECT * FROM unnest(${codes}::text[], ${rows.map((r) => r.saleId)}::bigint[],
                         ${rows.map((r) => r.itemId)}::int[], ${rows.map((r) => r.userId)}::text[])
    ON CONFLICT (code) DO NOTHING
    RETURNING code, id::text`
  const byCode = new Map(inserted.map((r) => [r.code, r.id]))
  const out: { id: string; inserted: boolean }[] = []
  for (const code of codes) {
    const id = byCode.get(code)
    if (id !== undefined) {
      out.push({ id, inserted: true })
      continue
    }
    // Committed by another purchase, before this statement or while it waited for it: rare,
    // since the code's lock keeps a second purchase out; read by the unique index.
    const row = await purchaseByCode(sql, code)
    if (!row) throw new Error(`purchase of ${code} neither inserted nor found`)
    out.push({ id: row.id, inserted: false })
  }
  return out
}

export async function purchaseByCode (sql: Sql, code: string): Promise<PurchaseRow | undefined> {
  const [row] = await sql<PurchaseRow[]>`
    SELECT id::text, code, sale_id::int, item_id, user_id FROM purchases WHERE code = ${code}`
  return row
}
