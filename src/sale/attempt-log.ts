import { hostname } from 'node:os'
import { randomBytes, randomUUID } from 'node:crypto'
import { insertAttempts, insertDeadLetter, isDataError, MAX_TEXT, type AttemptRow } from '../repositories/attempts.ts'

/** What a client sent for an attempt refused as invalid. */
export interface ValuesSent {
  item: string | null
  user: string | null
}

/** Text cut to what a row keeps (marked over-long), so the buffer holds bounded attempts. */
const bounded = (text: string | null) => (text === null || text.length <= MAX_TEXT ? text : text.slice(0, MAX_TEXT + 1))
import type { CheckoutResult } from './meters.ts'
import { SETTLED_AFTER_MS, type Sale, type SaleCatalog } from './catalog.ts'
import type { SaleContext } from './context.ts'
import { ATTEMPT_GROUP } from './keys.ts'

/** Entries pending this long belong to a consumer that died: another instance takes them over. */
const CLAIM_IDLE_MS = 30_000
const OLD_STREAM_INTERVAL_MS = 5_000
const IN_PROCESS = 'process'

type StreamEntry = [id: string, fields: string[]]

/** An attempt that cannot even be turned into a row: it goes to the dead letters as it is. */
interface Unreadable {
  attempt_key: string
  raw: unknown
  reason: string
}

/**
 * Every checkout attempt reaches Postgres. Attempts decided by the checkout script are in the
 * sale's Redis stream (written in the same atomic step as the decision); a consumer group drains
 * them in batches, at least once: rows are acknowledged only after they are committed, and
 * inserting one twice is a no-op. Attempts that never reached the script (invalid input, rate
 * limited, no sale, Redis down) wait in a bounded in-process buffer.
 *
 * Nothing one client sends can stop the log: a batch Postgres refuses for its data is split
 * until the rows it refuses are alone, and those go to the dead-letter table with their raw
 * fields. The buffer and each stream drain on their own, so a source that keeps failing holds
 * back nothing but itself.
 */
export class AttemptLog {
  private buffer: AttemptRow[] = []
  /** Streams whose last batch failed: their unacknowledged entries are read again first. */
  private readonly retry = new Set<string>()
  private readonly consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`
  private readonly lastClaim = new Map<string, number>()
  private readonly lastVisit = new Map<number, number>()
  private draining: Promise<number> | undefined

  private readonly ctx: SaleContext
  private readonly catalog: SaleCatalog

  constructor (ctx: SaleContext, catalog: SaleCatalog) {
    this.ctx = ctx
    this.catalog = catalog
  }

  /**
   * Records an attempt that did not go through the checkout script. `key` is the code the
   * script was given when the attempt failed on its way to Redis: should Redis run it after
   * all, its stream entry and this record are one attempt.
   */
  record (saleId: number | null, userId: string | null, itemId: number | null, result: CheckoutResult, key?: string, sent?: ValuesSent): void {
    if (this.buffer.length >= this.ctx.config.ATTEMPT_BUFFER_MAX) {
      this.ctx.meters.attemptsDropped.inc()
      return
    }
    this.buffer.push({
      attempt_key: key ?? randomUUID(),
      sale_id: saleId,
      // Bounded here already: the buffer holds up to ATTEMPT_BUFFER_MAX of them.
      user_id: bounded(userId),
      item_id: itemId,
      result,
      code: null,
      created_at: new Date(),
      stream_id: null,
      item_sent: bounded(sent?.item ?? null),
      user_sent: bounded(sent?.user ?? null),
    })
  }

  /** Attempts held in this process, not yet in Postgres. */
  get buffered (): number {
    return this.buffer.length
  }

  /**
   * Persists what is waiting, batch by batch; returns how many attempts were written. Calls
   * queue behind one another, so a caller's drain covers everything recorded before it. Rejects
   * when a source failed, after every other source had its turn.
   */
  drain (): Promise<number> {
    const previous = this.draining
    const run = (async () => {
      await previous?.catch(() => {})
      return this.ctx.meters.span('attempt drain', () => this.drainAll())
    })()
    this.draining = run
    return run
  }

  private async drainAll (): Promise<number> {
    let total = 0
    for (;;) {
      const failures: unknown[] = []
      const attempt = (source: () => Promise<number>) => source().catch((err) => {
        failures.push(err)
        return 0
      })
      let n = await attempt(() => this.flushBuffer())
      for (const sale of this.catalog.all()) {
        if (!this.due(sale)) continue
        let drained = 0
        for (const keys of sale.shards) drained += await attempt(() => this.drainStream(sale, keys.log))
        // An old stream with a backlog (Postgres was down) drains at full speed until empty.
        if (drained > 0) this.lastVisit.delete(sale.id)
        n += drained
      }
      total += n
      if (n > 0) continue
      if (failures.length === 1) throw failures[0]
      if (failures.length > 1) throw new AggregateError(failures, `${failures.length} attempt-log sources failed`)
      return total
    }
  }

  /**
   * The streams of running and just-ended sales are drained on every pass; older sales get no
   * new attempts, so their streams are looked at every few seconds (for entries left pending
   * by a consumer that died), not ten times a second.
   */
  private due (sale: Sale): boolean {
    const now = Date.now()
    if (sale.endsAt > now - SETTLED_AFTER_MS || sale.shards.some((keys) => this.retry.has(keys.log))) return true
    if (now - (this.lastVisit.get(sale.id) ?? 0) < OLD_STREAM_INTERVAL_MS) return false
    this.lastVisit.set(sale.id, now)
    return true
  }

  /** Attempts recorded but not yet persisted: the in-process buffer plus every stream. */
  async backlog (): Promise<number> {
    const { redis, meters } = this.ctx
    let n = this.buffer.length
    for (const sale of this.catalog.all()) {
      for (const keys of sale.shards) n += await meters.redis('xlen', () => redis.xlen(keys.log))
    }
    return n
  }

  private async flushBuffer (): Promise<number> {
    if (this.buffer.length === 0) return 0
    const batch = this.buffer.slice(0, this.ctx.config.ATTEMPT_BATCH_SIZE)
    await this.store(batch, IN_PROCESS, (row) => row)
    this.buffer.splice(0, batch.length)
    return batch.length
  }

  private async drainStream (sale: Sale, key: string): Promise<number> {
    const { redis, meters, config } = this.ctx
    let entries: StreamEntry[]
    try {
      entries = await this.read(key)
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOGROUP')) {
        // A read this process gave up on (Redis hung past the command timeout) may still run once
        // Redis wakes, handing entries to this consumer unseen: the next read takes its own
        // pending entries first, rather than leave them until they are claimed as idle.
        this.retry.add(key)
        throw err
      }
      // The stream lost its group (Redis restarted): recreate it from the start of the stream.
      await redis.xgroup('CREATE', key, ATTEMPT_GROUP, '0', 'MKSTREAM').catch(() => {})
      return 0
    }
    if (entries.length === 0) {
      this.retry.delete(key)
      return 0
    }
    const source = `stream ${key}`
    const rows: AttemptRow[] = []
    const fieldsOf = new Map<string, string[]>()
    for (const [id, fields] of entries) {
      const row = toRow(sale.id, id, fields)
      if ('raw' in row) {
        await this.deadLetter(row, source)
      } else {
        rows.push(row)
        fieldsOf.set(id, fields)
      }
    }
    const ids = entries.map(([id]) => id)
    try {
      await this.store(rows, source, (row) => ({ stream_id: row.stream_id, fields: fieldsOf.get(row.stream_id!) }))
      // Acknowledge and delete in one step: the stream only holds what is not yet in Postgres.
      await meters.redis('xack', () => redis.multi().xack(key, ATTEMPT_GROUP, ...ids).xdel(key, ...ids).exec())
    } catch (err) {
      // Stored or not, these entries are still this consumer's: the next read takes them again.
      this.retry.add(key)
      throw err
    }
    if (config.ATTEMPT_BATCH_SIZE > entries.length) this.retry.delete(key)
    return entries.length
  }

  private async read (key: string): Promise<StreamEntry[]> {
    const { redis, meters, config } = this.ctx
    const count = config.ATTEMPT_BATCH_SIZE
    const now = Date.now()
    if (now - (this.lastClaim.get(key) ?? 0) > CLAIM_IDLE_MS / 3) {
      this.lastClaim.set(key, now)
      const claimed = (await meters.redis('xautoclaim', () =>
        redis.xautoclaim(key, ATTEMPT_GROUP, this.consumer, CLAIM_IDLE_MS, '0', 'COUNT', count))) as [string, StreamEntry[]]
      if (claimed[1].length > 0) return claimed[1]
    }
    const readFrom = async (from: '0' | '>'): Promise<StreamEntry[]> => {
      const reply = (await meters.redis('xreadgroup', () =>
        redis.xreadgroup('GROUP', ATTEMPT_GROUP, this.consumer, 'COUNT', count, 'STREAMS', key, from))) as
        | [string, StreamEntry[]][]
        | null
      return reply?.[0]?.[1] ?? []
    }
    if (this.retry.has(key)) {
      // This consumer's own entries first: delivered by a read it gave up on, or not yet stored.
      const pending = await readFrom('0')
      if (pending.length > 0) return pending
      // None (the read it gave up on never ran, or handed out nothing): the new entries, in the
      // same pass, so that a drain still covers everything recorded before it.
      this.retry.delete(key)
    }
    return readFrom('>')
  }

  /**
   * Inserts a batch. When Postgres refuses it for its data, the batch is split in halves until
   * each refused row is alone, and that row becomes a dead letter; any other failure (Postgres
   * unreachable, say) is thrown, and the batch is tried again later.
   */
  private async store (rows: AttemptRow[], source: string, rawOf: (row: AttemptRow) => unknown): Promise<void> {
    if (rows.length === 0) return
    const { meters, sql } = this.ctx
    try {
      await meters.db('attempts_insert', () => insertAttempts(sql, rows))
      meters.attemptsPersisted.inc(rows.length)
    } catch (err) {
      if (!isDataError(err)) throw err
      const [row] = rows
      if (rows.length === 1) return this.deadLetter({ attempt_key: row!.attempt_key, raw: rawOf(row!), reason: reasonOf(err) }, source)
      const half = rows.length >> 1
      await this.store(rows.slice(0, half), source, rawOf)
      await this.store(rows.slice(half), source, rawOf)
    }
  }

  private async deadLetter (row: Unreadable, source: string): Promise<void> {
    const { meters, sql, log } = this.ctx
    const raw = Buffer.from(JSON.stringify(row.raw))
    await meters.db('attempts_dead_letter', () => insertDeadLetter(sql, { attempt_key: row.attempt_key, source, raw, reason: row.reason }))
    meters.attemptsDeadLettered.inc()
    log.warn({ attempt_key: row.attempt_key, source, reason: row.reason }, 'checkout attempt kept in the dead letters')
  }
}

function reasonOf (err: unknown): string {
  const { code, message } = err as { code?: string; message?: string }
  return code ? `${code}: ${message}` : String(message ?? err)
}

/**
 * An entry of the checkout script: field `a` = "user|item|result|key|ms" (see lua/checkout.lua);
 * the key is the reservation's code when the result is a success. An entry that does not read
 * as one (written by something else, or damaged) is returned as it is, to be kept raw.
 */
function toRow (saleId: number, streamId: string, fields: string[]): AttemptRow | Unreadable {
  const value = fields[0] === 'a' && fields.length === 2 ? fields[1]! : undefined
  const parts = value?.split('|')
  const fallbackKey = `${saleId}:${streamId}`
  if (!parts || parts.length !== 5) return { attempt_key: fallbackKey, raw: { stream_id: streamId, fields }, reason: 'not an attempt entry' }
  const [user, item, result, key, ms] = parts as [string, string, string, string, string]
  const at = new Date(Number(ms))
  if (!result || Number.isNaN(at.getTime()) || (item !== '' && !/^\d+$/.test(item))) {
    return { attempt_key: key || fallbackKey, raw: { stream_id: streamId, fields }, reason: 'unreadable attempt entry' }
  }
  return {
    attempt_key: key || fallbackKey,
    sale_id: saleId,
    user_id: user || null,
    item_id: item ? Number(item) : null,
    result,
    code: result === 'success' && key ? key : null,
    created_at: at,
    stream_id: streamId,
  }
}
