import type { Sql } from 'postgres'
import { createAttemptPartition } from './partitions.ts'

export interface SaleRow {
  /** bigint: postgres.js returns it as a string. */
  id: string
  /** Random, in the sale's Redis keys: another database's sale of the same id has other keys. */
  token: string
  slot: Date | null
  starts_at: Date
  ends_at: Date
  per_user_limit: number
  reservation_ttl_seconds: number
  items: number
  stock_per_item: number
  units_total: string
  shards: number
}

export interface NewSale {
  slot: Date | null
  starts_at: Date
  ends_at: Date
  per_user_limit: number
  reservation_ttl_seconds: number
  items: number
  stock_per_item: number
  shards: number
}

// Column lists go through postgres.js's own helpers (`sql(columns)`, `sql(row, columns)`), which
// quote each name and keep the statement prepared.
const COLUMNS: (keyof SaleRow)[] = [
  'id', 'token', 'slot', 'starts_at', 'ends_at', 'per_user_limit', 'reservation_ttl_seconds', 'items', 'stock_per_item', 'units_total', 'shards',
]
const NEW_SALE_COLUMNS: (keyof NewSale)[] = [
  'slot', 'starts_at', 'ends_at', 'per_user_limit', 'reservation_ttl_seconds', 'items', 'stock_per_item', 'shards',
]

/** Item names and pictures are generated from the item id: stable and free to compute. */
export function itemName (id: number): string {
  return `Flash item #${id}`
}
export function itemImageUrl (id: number): string {
  return `https://images.flashsale.invalid/items/${id}.jpg`
}

/** Sales that are running, upcoming, or ended within the retention window. */
export async function recentSales (sql: Sql, retentionSeconds: number): Promise<SaleRow[]> {
  return sql<SaleRow[]>`
    SELECT ${sql(COLUMNS)} FROM sales
     WHERE ends_at > now() - make_interval(secs => ${retentionSeconds}) AND ends_at > starts_at
     ORDER BY starts_at`
}

/** One sale still within the retention window, or undefined. */
export async function recentSale (sql: Sql, id: number, retentionSeconds: number): Promise<SaleRow | undefined> {
  const [row] = await sql<SaleRow[]>`
    SELECT ${sql(COLUMNS)} FROM sales
     WHERE id = ${id} AND ends_at > now() - make_interval(secs => ${retentionSeconds}) AND ends_at > starts_at`
  return row
}

/**
 * Creates a sale and its items in one transaction, serialized with every other schedule change.
 * Sales overlapping the new window give way: one that starts earlier now ends where the new one
 * starts; one that starts later is cancelled (its window becomes empty). A scheduled sale gives
 * way instead: for a slot that already has a sale, or overlaps one, returns null.
 */
export async function createSale (sql: Sql, sale: NewSale): Promise<{ sale: SaleRow; changed: SaleRow[] } | null> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext('flashsale:schedule'))`
    if (sale.slot) {
      const [taken] = await tx`
        SELECT 1 FROM sales WHERE slot = ${sale.slot}
           OR (ends_at > ${sale.starts_at} AND starts_at < ${sale.ends_at} AND ends_at > starts_at)`
      if (taken) return null
    }
    const changed = await tx<SaleRow[]>`
      UPDATE sales SET ends_at = CASE WHEN starts_at < ${sale.starts_at} THEN ${sale.starts_at} ELSE starts_at END
       WHERE ends_at > ${sale.starts_at} AND starts_at < ${sale.ends_at} AND ends_at > starts_at
       RETURNING ${tx(COLUMNS)}`
    const [row] = await tx<SaleRow[]>`INSERT INTO sales ${tx(sale, NEW_SALE_COLUMNS)} RETURNING ${tx(COLUMNS)}`
    await createAttemptPartition(tx, row!.id)
    const ids = Array.from({ length: sale.items }, (_, i) => i + 1)
    await tx`
      INSERT INTO items (sale_id, id, name, image_url, stock)
      SELECT ${row!.id}, id, name, image, ${sale.stock_per_item}
        FROM unnest(${ids}::int[], ${ids.map(itemName)}::text[], ${ids.map(itemImageUrl)}::text[]) AS t(id, name, image)`
    return { sale: row!, changed }
  })
}

/** What Postgres knows was sold in a sale, per item and per user: to rebuild Redis after a loss. */
export async function soldCounts (sql: Sql, saleId: number) {
  const [byItem, byUser] = await Promise.all([
    sql<{ item_id: number; n: number }[]>`
      SELECT item_id, count(*)::int AS n FROM purchases WHERE sale_id = ${saleId} GROUP BY item_id`,
    sql<{ user_id: string; n: number }[]>`
      SELECT user_id, count(*)::int AS n FROM purchases WHERE sale_id = ${saleId} GROUP BY user_id`,
  ])
  return { byItem, byUser }
}
