import type { Sql } from 'postgres'
import { insertPurchases, type NewPurchase } from '../repositories/purchases.ts'
import type { SaleMeters } from './meters.ts'
import type { SpanOrigin } from './spans.ts'

interface Waiting {
  row: NewPurchase
  resolve: (value: { id: string; inserted: boolean }) => void
  reject: (err: unknown) => void
  /** Where in its request's trace the purchase was queued. */
  origin: SpanOrigin
}

/**
 * Group commit: purchases that reach Postgres together share one statement, one transaction and
 * one WAL flush, instead of one of each per purchase. A batch goes as soon as a connection is
 * free for it (at most `concurrency` in flight) with everything that queued meanwhile, up to
 * `maxBatch`: under light load a purchase waits for nothing, under heavy load batches grow.
 * Each reservation is committing (with its lease) before its row is queued, so a crash between
 * any two steps of a batch is settled against Postgres like a crash of a single purchase: the
 * batch committed whole, or not at all.
 */
export class CommitBatch {
  private readonly sql: Sql
  private readonly meters: SaleMeters
  private readonly maxBatch: number
  private readonly concurrency: number
  private queue: Waiting[] = []
  private inFlight = 0

  constructor (sql: Sql, meters: SaleMeters, { maxBatch, concurrency }: { maxBatch: number; concurrency: number }) {
    this.sql = sql
    this.meters = meters
    this.maxBatch = maxBatch
    this.concurrency = concurrency
  }

  insert (row: NewPurchase): Promise<{ id: string; inserted: boolean }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject, origin: this.meters.origin() })
      // Requests that arrive in the same turn of the event loop join the same batch.
      if (this.queue.length === 1) setImmediate(() => this.flush())
    })
  }

  private flush (): void {
    while (this.queue.length > 0 && this.inFlight < this.concurrency) {
      const batch = this.queue.splice(0, this.maxBatch)
      this.inFlight++
      this.meters.batch('commit batch', batch.map((w) => w.origin), () =>
        this.meters.db('purchase_insert', () => insertPurchases(this.sql, batch.map((w) => w.row)))).then(
        (rows) => batch.forEach((w, i) => w.resolve(rows[i]!)),
        (err) => batch.forEach((w) => w.reject(err))
      ).finally(() => {
        this.inFlight--
        this.flush()
      })
    }
  }
}
