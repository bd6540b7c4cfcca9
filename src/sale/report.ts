import type { Sql } from 'postgres'
import { saleFacts } from '../repositories/reports.ts'
import { saleState, type SaleRecord } from '../repositories/sale-lifecycle.ts'
import type { SaleCatalog } from './catalog.ts'

const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places

/**
 * How a sale went, or is going. Live while it runs: units from Redis, where the sale is decided.
 * Final otherwise: units from Postgres, where every purchase is (reservations left when a sale
 * ends can no longer be bought, so none is counted as held). Attempts reach Postgres through the
 * attempt log, a moment after they are made.
 */
export async function saleReport (sql: Sql, catalog: SaleCatalog, row: SaleRecord, now = Date.now()) {
  const id = Number(row.id)
  const total = Number(row.units_total)
  const live = saleState(row, now) === 'active'
  const [facts, loaded] = await Promise.all([saleFacts(sql, id), live ? catalog.find(id) : undefined])
  const progress = loaded ? await catalog.progress(loaded) : undefined
  const sold = progress?.sold ?? facts.purchases
  const reserved = progress?.reserved ?? 0
  const made = facts.attempts.success ?? 0
  const start = row.starts_at.getTime()
  const minutes = Math.max(0, Math.min(now, row.ends_at.getTime()) - start) / 60_000
  return {
    live: progress !== undefined,
    units: { total, sold, reserved, free: Math.max(0, total - sold - reserved) },
    attempts: facts.attempts,
    attempts_total: Object.values(facts.attempts).reduce((n, c) => n + c, 0),
    distinct_buyers: facts.distinctBuyers,
    purchases: facts.purchases,
    purchases_per_minute: { average: minutes > 0 ? round(facts.purchases / minutes, 2) : 0, peak: facts.peakPerMinute },
    reservations: { made, purchased: facts.purchases, expired: Math.max(0, made - facts.purchases - reserved) },
    conversion: made > 0 ? round(facts.purchases / made, 4) : null,
    sell_out_seconds: sold >= total && facts.lastPurchaseAt ? round((facts.lastPurchaseAt.getTime() - start) / 1000, 3) : null,
  }
}
