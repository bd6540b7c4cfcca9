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
 */
export async function insertPurchases (sql: Sql, rows: readonly NewPurchase[]): Promise<{ id: string; inserted: boolean }[]> {
  const codes = rows.map((r) => r.code)
  const found = await sql<{ code: string; id: string; inserted: boolean }[]>`
    WITH input AS (
      SELECT * FROM unnest(${codes}::text[], ${rows.map((r) => r.saleId)}::bigint[],
                           ${rows.map((r) => r.itemId)}::int[], ${rows.map((r) => r.userId)}::text[])
        AS t(code, sale_id, item_id, user_id)
    ), ins AS (
      INSERT INTO purchases (code, sale_id, item_id, user_id)
      SELECT code, sale_id, item_id, user_id FROM input
      ON CONFLICT (code) DO NOTHING
      RETURNING code, id
    )
    SELECT code, id::text, true AS inserted FROM ins
    UNION ALL
    SELECT p.code, p.id::text, false FROM purchases p JOIN input USING (code)
     WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.code = p.code)`
  const byCode = new Map(found.map((f) => [f.code, f]))
  const out: { id: string; inserted: boolean }[] = []
  for (const code of codes) {
    // A purchase of this code committed after the statement's snapshot: read it now.
    const row = byCode.get(code) ?? await purchaseByCode(sql, code).then((p) => p && { id: p.id, inserted: false })
    if (!row) throw new Error(`purchase of ${code} neither inserted nor found`)
    out.push({ id: row.id, inserted: row.inserted })
  }
  return out
}

export async function purchaseByCode (sql: Sql, code: string): Promise<PurchaseRow | undefined> {
  const [row] = await sql<PurchaseRow[]>`
    SELECT id::text, code, sale_id::int, item_id, user_id FROM purchases WHERE code = ${code}`
  return row
}
