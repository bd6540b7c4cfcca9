import { LockBusyError, type LockLease } from './locks.ts'
import { purchaseByCode } from '../repositories/purchases.ts'
import { CommitBatch } from './commit-batch.ts'
import { isDeadline, UnavailableError } from '../errors.ts'
import type { Sale, SaleCatalog } from './catalog.ts'
import type { SaleContext } from './context.ts'
import { lockResource, purchaseFallbackRateKey, purchaseRateKey, saleIdOfCode, shardOfCode, type SaleKeys } from './keys.ts'
import type { Begun, PurchaseRate, ReservationState, Settled } from './scripts.ts'
import type { Waiting } from './meters.ts'

export type PurchaseOutcome =
  | { result: 'success' | 'replay'; purchaseId: string; saleId: number; itemId: number; userId: string }
  | { result: 'code_not_found' | 'code_expired' | 'lock_busy' }
  | { result: 'rate_limited'; retryAfterMs: number }

/** The keys of the shard a code's reservation lives on, if the sale has that shard. */
function keysOf (sale: Sale, code: string): SaleKeys | undefined {
  return sale.shards[shardOfCode(code, sale.shards.length)]
}

interface InFlight {
  answer: Promise<PurchaseOutcome>
  /** Whether the buyer of the first submit still waits for its answer. */
  waiting: () => boolean
  state: 'pending' | 'answered' | 'failed'
}

/**
 * The purchase in flight a new submit of its code may join: one with an outcome, or one whose
 * buyer still waits. A purchase that failed, or whose buyer was answered 503 at the deadline
 * before it decided (it commits nothing more, and fails), is not joined: the new submit makes its
 * own attempt, meeting the lock until that purchase releases it.
 */
function joinable (entry: InFlight | undefined): InFlight | undefined {
  if (entry === undefined || entry.state === 'failed') return undefined
  return entry.state === 'answered' || entry.waiting() ? entry : undefined
}

/** A purchase's first step: its code and sale, its client's count, and whom to answer. */
interface Step {
  code: string
  sale: Sale
  rate: PurchaseRate
  waiting: () => boolean
  answer: (outcome: PurchaseOutcome) => void
}

/** A reservation's begin, and how to settle it when the purchase is decided. */
interface Commit extends Step {
  begun: Begun
  lease: LockLease
  settle: (purchaseId: string | null) => Promise<ReservationState>
}

/** Batches of purchases committing at once; more would only queue for the pool's connections. */
const COMMIT_CONCURRENCY = 2

/**
 * Purchase: commit a reservation to Postgres exactly once. The lock makes one request at a time
 * handle a code; under it one script says whether the code can be bought (or was bought: the
 * same purchase is answered again); the unique code in Postgres is the last line of defence.
 */
export class Purchases {
  private readonly ctx: SaleContext
  private readonly catalog: SaleCatalog

  private readonly batch: CommitBatch
  /** Purchases of a code in flight in this process: a duplicate joins the first, never its lock. */
  private readonly inFlight = new Map<string, InFlight>()

  constructor (ctx: SaleContext, catalog: SaleCatalog) {
    this.ctx = ctx
    this.catalog = catalog
    this.batch = new CommitBatch(ctx.sql, ctx.meters, { maxBatch: ctx.config.PURCHASE_BATCH_MAX, concurrency: COMMIT_CONCURRENCY })
  }

  /**
   * `waiting` says whether the buyer still waits for the answer. Past the request's deadline they
   * were answered 503, and the work goes on without committing: a purchase is inserted only
   * while its buyer can still be told (an insert already in flight at the deadline is the one
   * exception; a retry then answers its purchase_id).
   */
  async purchase (code: string, ip: string, waiting: Waiting): Promise<PurchaseOutcome> {
    // The purchase is in flight until its lock is released, after its answer: a submit arriving
    // meanwhile joins it rather than meet the lock.
    const first = joinable(this.inFlight.get(code))
    let work = first?.answer
    if (!work) {
      const { answer, done } = this.decide(code, ip, waiting)
      work = answer
      const entry: InFlight = { answer, waiting, state: 'pending' }
      answer.then(() => { entry.state = 'answered' }, () => { entry.state = 'failed' })
      this.inFlight.set(code, entry)
      void done.finally(() => {
        if (this.inFlight.get(code) === entry) this.inFlight.delete(code)
      })
    }
    let outcome = await work.catch((err) => {
      this.ctx.meters.purchase[waiting.left?.() ? 'abandoned' : 'error'].inc()
      throw err
    })
    // A double submit is answered the purchase its first submit made.
    if (first && outcome.result === 'success') outcome = { ...outcome, result: 'replay' }
    // A buyer who left is told nothing: unless the unit was bought (it is theirs), that is all.
    const bought = outcome.result === 'success' || outcome.result === 'replay'
    this.ctx.meters.purchase[!bought && waiting.left?.() ? 'abandoned' : outcome.result].inc()
    return outcome
  }

  /**
   * The purchase's answer, and when it is done: the answer can come before the lock is
   * released, since a purchase committed in Postgres is answered at once while Redis is told
   * (still under the lock) off the response path.
   */
  private decide (code: string, ip: string, waiting: () => boolean): { answer: Promise<PurchaseOutcome>; done: Promise<unknown> } {
    const { promise: answer, resolve, reject } = Promise.withResolvers<PurchaseOutcome>()
    const { REDIS_KEY_PREFIX, RATE_LIMIT_IP_MAX, RATE_LIMIT_WINDOW_MS } = this.ctx.config
    const done = (async () => {
      const saleId = saleIdOfCode(code)
      const sale = await this.catalog.find(saleId)
      // Redis forgets a sale some time after it ends; Postgres remembers its purchases. A code
      // naming a shard the sale does not have was never a reservation.
      const keys = sale && keysOf(sale, code)
      if (!sale || !keys) {
        const rate = { key: purchaseFallbackRateKey(REDIS_KEY_PREFIX, ip), max: RATE_LIMIT_IP_MAX, windowMs: RATE_LIMIT_WINDOW_MS }
        // When Redis cannot count, the purchase goes through: Postgres alone can answer it.
        const waitMs = rate.max > 0 ? await this.ctx.meters.redis('rate_count', () => this.ctx.scripts.rateCount(rate)).catch(() => 0) : 0
        return resolve(waitMs > 0 ? { result: 'rate_limited', retryAfterMs: waitMs } : await this.fromPostgres(code))
      }
      const resource = lockResource(REDIS_KEY_PREFIX, saleId, code)
      const rate = { key: purchaseRateKey(keys, ip), max: RATE_LIMIT_IP_MAX, windowMs: RATE_LIMIT_WINDOW_MS }
      const step: Step = { code, sale, rate, waiting, answer: resolve }
      resolve(this.ctx.locks.settings.colocated
        ? await this.underScriptLock(step, keys, resource)
        : await this.underRedlock(step, keys, resource))
    })().catch((err) => {
      if (err instanceof LockBusyError) resolve({ result: 'lock_busy' })
      else reject(err)
    })
    return { answer, done }
  }

  /**
   * Quorum mode, or locks in a cluster: Redlock first, then the script under it answers every
   * state in the same round trip; the lock is released after the settle.
   */
  private underRedlock (step: Step, keys: SaleKeys, resource: string) {
    const { locks, scripts, meters, config } = this.ctx
    return locks.withLock('purchase', resource, async (lease) => {
      if (!step.waiting()) throw new UnavailableError('deadline')
      const begun = await meters.redis('purchase_begin', () => scripts.purchaseBegin(keys, step.code, config.COMMIT_LEASE_MS, step.rate))
        .catch(async (err: unknown) => {
          // A begin given up on may still run once Redis answers, and leave the reservation
          // committing: settled by what Postgres holds, still under the lock, as a crash's would be.
          if (!isDeadline(err)) {
            await this.purchaseRow(step.code).then((row) => this.settle(keys, step.code, row?.id ?? null)).catch(() => {})
          }
          throw err
        })
      return this.commit({ ...step, begun, lease, settle: (purchaseId) => this.settle(keys, step.code, purchaseId) })
    })
  }

  /**
   * The lock on the data's own Redis: the begin script takes it (only when the reservation is
   * live: a code sold or gone is answered without it) and the settle script releases it, two
   * round trips where Redlock takes four.
   */
  private underScriptLock (step: Step, keys: SaleKeys, resource: string) {
    const { locks, scripts, meters, config } = this.ctx
    const noLease: LockLease = { held: () => false }
    return locks.withScriptLock('purchase', resource, {
      attempt: (lock, retry) => {
        if (!step.waiting()) throw new UnavailableError('deadline')
        // The address is counted once, on the first try: a retry of the lock is the same purchase.
        const rate = retry === 0 ? step.rate : undefined
        return meters.redis('purchase_begin', () => scripts.purchaseLockBegin(keys, step.code, config.COMMIT_LEASE_MS, lock, rate))
      },
      busy: (begun) => begun[0] === 'busy',
      holds: (begun) => begun[0] === 'commit' || begun[0] === 'settle',
      release: (lock) => scripts.lockRelease(lock),
      // A begin given up on may still run once Redis answers, and leave the reservation
      // committing with no one to commit it: settled by what Postgres holds, as a crash's would
      // be, if that try took the lock; only released when Postgres cannot say.
      abandon: (lock) => this.purchaseRow(step.code).then(
        (row) => scripts.purchaseSettleRelease(keys, step.code, row?.id ?? null, lock, true),
        () => scripts.lockRelease(lock)),
    }, (begun, { lease, lock, released }) => this.commit({
      ...step,
      begun,
      lease,
      settle: async (purchaseId) => {
        released()
        return this.counted(await meters.redis('purchase_settle', () => scripts.purchaseSettleRelease(keys, step.code, purchaseId, lock)))
      },
    }), (begun) => this.commit({ ...step, begun, lease: noLease, settle: () => Promise.reject(new Error('nothing to settle')) }))
  }

  /** The purchase Postgres holds for a code, if any. */
  private purchaseRow (code: string) {
    return this.ctx.meters.db('purchase_by_code', () => purchaseByCode(this.ctx.sql, code))
  }

  private async fromPostgres (code: string): Promise<PurchaseOutcome> {
    const row = await this.purchaseRow(code)
    if (!row) return { result: 'code_not_found' }
    return { result: 'replay', purchaseId: row.id, saleId: row.sale_id, itemId: row.item_id, userId: row.user_id }
  }

  private async commit (c: Commit): Promise<PurchaseOutcome> {
    const { meters } = this.ctx
    const { code, sale, begun, waiting } = c
    const saleId = sale.id
    switch (begun[0]) {
      case 'not_found':
        return this.fromPostgres(code)
      case 'busy':
        throw new LockBusyError()
      case 'rate_limited':
        return { result: 'rate_limited', retryAfterMs: begun[1] }
      case 'sold':
        return { result: 'replay', purchaseId: begun[3], saleId, itemId: Number(begun[1]), userId: begun[2] }
      case 'expired':
        if (begun[3]) meters.expired.inc()
        return { result: 'code_expired' }
    }
    const [status, item, userId] = begun
    const itemId = Number(item)

    // The reservation is committing: the sweeper leaves it alone for the lease. Past this
    // point a failure leaves it committing, and it is settled against Postgres later.
    if (!c.lease.held()) throw new UnavailableError('redlock', { cause: new Error('the lock may have expired before the commit') })
    if (!waiting()) {
      // Its buyer has been answered 503: settle the reservation by what Postgres holds (nothing,
      // unless a committer before this one got there), so that it is theirs to buy again.
      const row = await this.purchaseRow(code)
      await c.settle(row?.id ?? null)
      throw new UnavailableError('deadline')
    }
    let purchaseId: string
    let result: 'success' | 'replay' = 'success'
    if (status === 'commit') {
      const row = await this.batch.insert({ code, saleId, itemId, userId })
      purchaseId = row.id
      if (!row.inserted) result = 'replay'
    } else {
      const row = await this.purchaseRow(code)
      if (!row) {
        await c.settle(null)
        return { result: 'code_expired' }
      }
      purchaseId = row.id
      result = 'replay'
    }
    const outcome: PurchaseOutcome = { result, purchaseId, saleId, itemId, userId }
    c.answer(outcome)
    // Should this fail, the reservation stays committing, and the sweeper settles it by the row.
    await c.settle(purchaseId).catch((err) => {
      this.ctx.log.warn({ err, code }, 'purchase committed, Redis not told yet: the sweeper will settle it')
    })
    return outcome
  }

  /**
   * Settles a reservation left committing by a crash, under its lock: sold if Postgres has the
   * purchase, else back to stock (too late) or reserved again (still in time).
   * Returns false when another request holds the lock (it will settle the reservation itself).
   */
  async settleStuck (sale: Sale, code: string): Promise<boolean> {
    const { locks, meters, config } = this.ctx
    const keys = keysOf(sale, code)!
    try {
      await locks.withLock('settle', lockResource(config.REDIS_KEY_PREFIX, sale.id, code), async (lease) => {
        const row = await this.purchaseRow(code)
        if (!lease.held()) throw new UnavailableError('redlock', { cause: new Error('the lock was lost') })
        const after = await this.settle(keys, code, row?.id ?? null)
        meters.settled[after === 'sold' ? 'sold' : after === 'returned' ? 'returned' : 'reserved'].inc()
      })
      return true
    } catch (err) {
      if (err instanceof LockBusyError) return false
      throw err
    }
  }

  private async settle (keys: SaleKeys, code: string, purchaseId: string | null): Promise<ReservationState> {
    const { scripts, meters } = this.ctx
    return this.counted(await meters.redis('purchase_settle', () => scripts.purchaseSettle(keys, code, purchaseId)))
  }

  /** A settle's state after, its unit counted as expired when the settle returned it to stock. */
  private counted ({ before, after }: Settled): ReservationState {
    if (after === 'returned' && before !== 'returned') this.ctx.meters.expired.inc()
    return after
  }
}
