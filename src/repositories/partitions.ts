import type { Sql, TransactionSql } from 'postgres'

/** The partition of `checkout_attempts` that holds one sale's attempts. */
export function attemptPartition (saleId: number | string): string {
  const id = String(saleId)
  if (!/^[1-9][0-9]{0,18}$/.test(id)) throw new Error(`not a sale id: ${id}`)
  return `checkout_attempts_s${id}`
}

/**
 * Creates a sale's partition of the attempt log, in the transaction that creates the sale. It
 * is made apart and then attached: attaching takes a lock that lets the attempt log's inserts go
 * on (creating it as `PARTITION OF` would hold them until the sale's transaction commits). Were
 * it missing, the sale's attempts would land in the default partition: kept all the same.
 */
export async function createAttemptPartition (tx: TransactionSql | Sql, saleId: number | string): Promise<void> {
  const name = attemptPartition(saleId)
  await tx.unsafe(`CREATE TABLE ${name} (LIKE checkout_attempts INCLUDING DEFAULTS)`)
  await tx.unsafe(`ALTER TABLE checkout_attempts ATTACH PARTITION ${name} FOR VALUES IN (${String(saleId)})`)
}

export interface RetentionPass {
  /** False when another instance holds the retention lock: nothing was done here. */
  ran: boolean
  /** Sales whose attempts were dropped. */
  sales: number[]
}

/**
 * Drops the attempts of sales that ended more than `days` days ago: their partitions, and any
 * of their rows the default partition holds. Purchases, sales and the audit are left alone.
 * One instance at a time (a transaction-scoped advisory lock; the others skip the pass).
 */
export async function dropExpiredAttempts (sql: Sql, days: number): Promise<RetentionPass> {
  if (!(days > 0)) return { ran: false, sales: [] }
  return sql.begin(async (tx) => {
    const [lock] = await tx<{ ok: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtext('flashsale:attempt-retention')) AS ok`
    if (!lock!.ok) return { ran: false, sales: [] }
    const partitions = await tx<{ id: string; name: string }[]>`
      SELECT s.id::text, c.relname AS name
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN sales s ON c.relname = 'checkout_attempts_s' || s.id
       WHERE i.inhparent = 'checkout_attempts'::regclass AND s.ends_at < now() - make_interval(days => ${days})
       ORDER BY s.id`
    for (const p of partitions) await tx.unsafe(`DROP TABLE ${attemptPartition(p.id)}`)
    const strays = await tx<{ id: string }[]>`
      WITH gone AS (
        DELETE FROM checkout_attempts_default a USING sales s
         WHERE a.sale_id = s.id AND s.ends_at < now() - make_interval(days => ${days})
        RETURNING a.sale_id
      )
      SELECT DISTINCT sale_id::text AS id FROM gone`
    const ids = new Set([...partitions.map((p) => Number(p.id)), ...strays.map((s) => Number(s.id))])
    return { ran: true, sales: [...ids].sort((a, b) => a - b) }
  })
}
