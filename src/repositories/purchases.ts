import type { Sql } from 'postgres'

export interface PurchaseRow {
  id: string
  code: string
  sale_id: number
  item_id: number
  user_id: string
}

/**
 * Inserts the purchase of a reservation, or finds the one that already exists: the unique code
 * makes a second purchase of one code impossible whatever the locks did.
 */
export async function insertPurchase (
  sql: Sql,
  p: { code: string; saleId: number; itemId: number; userId: string }
): Promise<{ id: string; inserted: boolean }> {
  const [row] = await sql<{ id: string; inserted: boolean }[]>`
    WITH ins AS (
      INSERT INTO purchases (code, sale_id, item_id, user_id)
      VALUES (${p.code}, ${p.saleId}, ${p.itemId}, ${p.userId})
      ON CONFLICT (code) DO NOTHING
      RETURNING id
    )
    SELECT id::text, true AS inserted FROM ins
    UNION ALL
    SELECT id::text, false FROM purchases WHERE code = ${p.code}
    LIMIT 1`
  if (row) return row
  // A concurrent insert committed after this statement's snapshot: read it now.
  const existing = await purchaseByCode(sql, p.code)
  if (!existing) throw new Error(`purchase of ${p.code} neither inserted nor found`)
  return { id: existing.id, inserted: false }
}

export async function purchaseByCode (sql: Sql, code: string): Promise<PurchaseRow | undefined> {
  const [row] = await sql<PurchaseRow[]>`
    SELECT id::text, code, sale_id::int, item_id, user_id FROM purchases WHERE code = ${code}`
  return row
}
