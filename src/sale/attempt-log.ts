import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import { insertAttempts, type AttemptRow } from '../repositories/attempts.js'
import type { CheckoutResult } from '../plugins/metrics.js'
import { SETTLED_AFTER_MS, type Sale, type SaleCatalog } from './catalog.js'
import type { SaleContext } from './context.js'
import { ATTEMPT_GROUP } from './keys.js'

/** Entries pending this long belong to a consumer that died: another instance takes them over. */
const CLAIM_IDLE_MS = 30_000
const OLD_STREAM_INTERVAL_MS = 5_000

type StreamEntry = [id: string, fields: string[]]

/**
 * Every checkout attempt reaches Postgres. Attempts decided by the checkout script are in the
 * sale's Redis stream (written in the same atomic step as the decision); a consumer group drains
 * them in batches, at least once: rows are acknowledged only after they are committed, and
 * inserting one twice is a no-op. Attempts that never reached the script (invalid input, rate
 * limited, no sale, Redis down) wait in a bounded in-process buffer.
 */
export class AttemptLog {
  private buffer: AttemptRow[] = []
  /** Streams whose last batch failed: their unacknowledged entries are read again first. */
  private readonly retry = new Set<string>()
  private readonly consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
  private readonly lastClaim = new Map<string, number>()
  private readonly lastVisit = new Map<number, number>()
  private draining: Promise<number> | undefined

  constructor(
    private readonly ctx: SaleContext,
    private readonly catalog: SaleCatalog,
  ) {}

  /** Records an attempt that did not go through the checkout script. */
  record(saleId: number | null, userId: string | null, itemId: number | null, result: CheckoutResult): void {
    if (this.buffer.length >= this.ctx.config.ATTEMPT_BUFFER_MAX) {
      this.ctx.meters.attemptsDropped.inc()
      return
    }
    this.buffer.push({
      sale_id: saleId, user_id: userId, item_id: itemId, result, code: null, created_at: new Date(), stream_id: null,
    })
  }

  /** Attempts held in this process, not yet in Postgres. */
  get buffered(): number {
    return this.buffer.length
  }

  /**
   * Persists what is waiting, batch by batch; returns how many attempts were written. Calls
   * queue behind one another, so a caller's drain covers everything recorded before it.
   */
  drain(): Promise<number> {
    const previous = this.draining
    const run = (async () => {
      await previous?.catch(() => {})
      return this.drainAll()
    })()
    this.draining = run
    return run
  }

  private async drainAll(): Promise<number> {
    let total = 0
    for (;;) {
      let n = await this.flushBuffer()
      for (const sale of this.catalog.all()) {
        if (!this.due(sale)) continue
        const drained = await this.drainStream(sale)
        // An old stream with a backlog (Postgres was down) drains at full speed until empty.
        if (drained > 0) this.lastVisit.delete(sale.id)
        n += drained
      }
      total += n
      if (n === 0) return total
    }
  }

  /**
   * The streams of running and just-ended sales are drained on every pass; older sales get no
   * new attempts, so their streams are looked at every few seconds (for entries left pending
   * by a consumer that died), not ten times a second.
   */
  private due(sale: Sale): boolean {
    const now = Date.now()
    if (sale.endsAt > now - SETTLED_AFTER_MS || this.retry.has(sale.keys.log)) return true
    if (now - (this.lastVisit.get(sale.id) ?? 0) < OLD_STREAM_INTERVAL_MS) return false
    this.lastVisit.set(sale.id, now)
    return true
  }

  /** Attempts recorded but not yet persisted: the in-process buffer plus every stream. */
  async backlog(): Promise<number> {
    const { redis, meters } = this.ctx
    let n = this.buffer.length
    for (const sale of this.catalog.all()) n += await meters.redis('xlen', () => redis.xlen(sale.keys.log))
    return n
  }

  private async flushBuffer(): Promise<number> {
    if (this.buffer.length === 0) return 0
    const batch = this.buffer.slice(0, this.ctx.config.ATTEMPT_BATCH_SIZE)
    await this.persist(batch)
    this.buffer.splice(0, batch.length)
    return batch.length
  }

  private async drainStream(sale: Sale): Promise<number> {
    const { redis, meters, config } = this.ctx
    const key = sale.keys.log
    let entries: StreamEntry[]
    try {
      entries = await this.read(sale)
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOGROUP')) throw err
      // The stream lost its group (Redis restarted): recreate it from the start of the stream.
      await redis.xgroup('CREATE', key, ATTEMPT_GROUP, '0', 'MKSTREAM').catch(() => {})
      return 0
    }
    if (entries.length === 0) {
      this.retry.delete(key)
      return 0
    }
    const rows = entries.map(([id, f]) => toRow(sale.id, id, f))
    try {
      await this.persist(rows)
    } catch (err) {
      this.retry.add(key)
      throw err
    }
    const ids = entries.map(([id]) => id)
    // Acknowledge and delete in one step: the stream only holds what is not yet in Postgres.
    await meters.redis('xack', () => redis.multi().xack(key, ATTEMPT_GROUP, ...ids).xdel(key, ...ids).exec())
    if (config.ATTEMPT_BATCH_SIZE > entries.length) this.retry.delete(key)
    return entries.length
  }

  private async read(sale: Sale): Promise<StreamEntry[]> {
    const { redis, meters, config } = this.ctx
    const key = sale.keys.log
    const count = config.ATTEMPT_BATCH_SIZE
    const now = Date.now()
    if (now - (this.lastClaim.get(key) ?? 0) > CLAIM_IDLE_MS / 3) {
      this.lastClaim.set(key, now)
      const claimed = (await meters.redis('xautoclaim', () =>
        redis.xautoclaim(key, ATTEMPT_GROUP, this.consumer, CLAIM_IDLE_MS, '0', 'COUNT', count))) as [string, StreamEntry[]]
      if (claimed[1].length > 0) return claimed[1]
    }
    const from = this.retry.has(key) ? '0' : '>'
    const reply = (await meters.redis('xreadgroup', () =>
      redis.xreadgroup('GROUP', ATTEMPT_GROUP, this.consumer, 'COUNT', count, 'STREAMS', key, from))) as
      | [string, StreamEntry[]][]
      | null
    return reply?.[0]?.[1] ?? []
  }

  private async persist(rows: AttemptRow[]): Promise<void> {
    const { meters, sql } = this.ctx
    await meters.db('attempts_insert', () => insertAttempts(sql, rows))
    meters.attemptsPersisted.inc(rows.length)
  }
}

/** An entry of the checkout script: field `a` = "user|item|result|code|ms" (see lua/checkout.lua). */
function toRow(saleId: number, streamId: string, fields: string[]): AttemptRow {
  const [user, item, result, code, ms] = (fields[1] ?? '').split('|')
  return {
    sale_id: saleId,
    user_id: user || null,
    item_id: item ? Number(item) : null,
    result: result || 'error',
    code: code || null,
    created_at: new Date(Number(ms)),
    stream_id: streamId,
  }
}
