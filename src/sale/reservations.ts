import type { CheckoutResult, Waiting } from './meters.ts'
import { UnavailableError } from '../errors.ts'
import type { AttemptLog, ValuesSent } from './attempt-log.ts'
import type { Sale, SaleCatalog } from './catalog.ts'
import type { SaleContext } from './context.ts'
import type { CheckoutLimits } from './scripts.ts'
import { homeShard, newCode, shardsToAsk, type SaleKeys } from './keys.ts'

export type CheckoutOutcome =
  | { result: 'success'; sale: Sale; code: string; expiresAt: number }
  | { result: 'rate_limited'; sale: Sale; retryAfterMs: number }
  | { result: Exclude<CheckoutResult, 'success' | 'rate_limited'>; sale: Sale | undefined }

const SWEEP_BATCH = 1_000
/** A transfer older than this belongs to a checkout that will not finish it. */
const TRANSFER_GRACE_MS = 2_000

/**
 * Checkout: one Lua script decides and records each attempt in one round trip. The sweeper
 * returns the units of expired reservations and hands stuck commits to the purchase side.
 */
export class Reservations {
  private readonly ctx: SaleContext
  private readonly catalog: SaleCatalog
  private readonly attempts: AttemptLog
  private readonly limits: CheckoutLimits

  constructor (ctx: SaleContext, catalog: SaleCatalog, attempts: AttemptLog) {
    this.ctx = ctx
    this.catalog = catalog
    this.attempts = attempts
    const { RATE_LIMIT_IP_MAX, RATE_LIMIT_USER_MAX, RATE_LIMIT_WINDOW_MS } = ctx.config
    this.limits = { ipMax: RATE_LIMIT_IP_MAX, userMax: RATE_LIMIT_USER_MAX, windowMs: RATE_LIMIT_WINDOW_MS }
  }

  /**
   * `ip` is the client address, for the per-address rate limit. `waiting` says whether the buyer
   * still waits for the answer: past the request's deadline they were answered 503 (or they
   * left), and a reservation the script made anyway (Redis hung, then ran it) is released right
   * behind it. Either way the attempt is one row: the error the buyer was answered.
   */
  async checkout (itemId: number, userId: string, ip: string, waiting: Waiting): Promise<CheckoutOutcome> {
    const { scripts, meters } = this.ctx
    const sale = this.catalog.current() ?? await this.catalog.currentOrCaughtUp()
    if (sale === undefined) {
      this.attempts.record(null, userId, itemId, 'sale_not_active')
      meters.checkout.sale_not_active.inc()
      return { result: 'sale_not_active', sale }
    }
    const shards = sale.shards.length
    const home = homeShard(userId, shards)
    const keys = sale.shards[home]!
    const code = newCode(sale.id, home, shards)
    let reply: [string, number]
    try {
      reply = await meters.redis('checkout', () =>
        scripts.checkout(keys, { ip, user: userId, item: itemId, code, limits: this.limits, step: shards > 1 ? 'first' : '' }))
      if (reply[0] === 'elsewhere') reply = await this.fromElsewhere(sale, home, itemId, userId, ip, code)
      if (!waiting()) throw new UnavailableError('deadline')
    } catch (err) {
      this.cancel(keys, code)
      const result = waiting.left?.() ? 'abandoned' : 'error'
      this.attempts.record(sale.id, userId, itemId, result, code)
      meters.checkout[result].inc()
      throw err
    }
    const result = reply[0] as CheckoutResult
    meters.checkout[result].inc()
    if (result === 'success') return { result, sale, code, expiresAt: Number(reply[1]) }
    if (result === 'rate_limited') return { result, sale, retryAfterMs: Number(reply[1]) }
    return { result: result as Exclude<CheckoutResult, 'success' | 'rate_limited'>, sale }
  }

  /**
   * The rest of a checkout whose buyer's home shard has no unit of the item (a sale over several
   * shards, docs/scaling.md): a unit is taken from the first other shard that has one, under a
   * transfer id (the attempt's own key), and the home shard decides again, receiving it.
   */
  private async fromElsewhere (sale: Sale, home: number, item: number, user: string, ip: string, code: string) {
    const { scripts, meters, redis } = this.ctx
    let from: SaleKeys | undefined
    for (const shard of shardsToAsk(item, home, sale.shards.length)) {
      const keys = sale.shards[shard]!
      if (await meters.redis('stock_take', () => scripts.stockTake(keys, item, code, home)) === 1) {
        from = keys
        break
      }
    }
    const reply = await meters.redis('checkout', () =>
      scripts.checkout(sale.shards[home]!, { ip, user, item, code, limits: this.limits, step: 'final', transfer: from ? code : '' }))
    // Received: the journal entry can go. Should this fail, the sweeper gives it again (a no-op).
    if (from) void meters.redis('transfer_done', () => redis.hdel(from.xfer, code)).catch(() => {})
    return reply
  }

  /**
   * Sent on the checkout's own connection, so Redis runs it after that checkout if it runs it at
   * all. When it cannot be sent either, the reservation (if any) expires with its ttl.
   */
  private cancel (keys: SaleKeys, code: string): void {
    const { scripts, meters } = this.ctx
    meters.redis('checkout_cancel', () => scripts.checkoutCancel(keys, code)).then(
      (released) => meters.cancelled.inc(released),
      () => {}
    )
  }

  /** Records and counts a checkout refused as invalid before it could reach the script, with what it sent. */
  invalid (userId: string | null, itemId: number | null, sent?: ValuesSent): void {
    this.attempts.record(this.catalog.current()?.id ?? null, userId, itemId, 'invalid', undefined, sent)
    this.ctx.meters.checkout.invalid.inc()
  }

  /** Records and counts a checkout answered 503 before it could reach the script (shed under pressure). */
  unserved (userId: string | null, itemId: number | null): void {
    this.attempts.record(this.catalog.current()?.id ?? null, userId, itemId, 'error')
    this.ctx.meters.checkout.error.inc()
  }

  /**
   * One sweep of every sale that can still hold reservations. Returns the number of
   * reservations expired and the committing ones whose committer vanished, by sale.
   */
  async sweep (): Promise<{ expired: number; stuck: { sale: Sale; code: string }[] }> {
    const { scripts, meters, config } = this.ctx
    const now = Date.now()
    let expired = 0
    const stuck: { sale: Sale; code: string }[] = []
    for (const sale of this.catalog.all()) {
      // Past the end plus the longest lease, nothing of the sale can be due any more.
      if (sale.endsAt + config.COMMIT_LEASE_MS * 2 < now || sale.startsAt > now) continue
      for (const keys of sale.shards) {
        for (;;) {
          const [n, more, ...codes] = await meters.redis('sweep', () => scripts.sweep(keys, SWEEP_BATCH, config.COMMIT_LEASE_MS))
          expired += n
          meters.expired.inc(n)
          for (const code of codes) stuck.push({ sale, code })
          if (more !== 1) break
        }
        if (sale.shards.length > 1) await this.landTransfers(sale, keys)
      }
    }
    return { expired, stuck }
  }

  /**
   * Units taken from this shard whose checkout never finished (its process died between two
   * shards' steps) are given to their destination, once (receiving is idempotent), then the
   * journal forgets them.
   */
  private async landTransfers (sale: Sale, keys: SaleKeys): Promise<void> {
    const { scripts, meters, redis } = this.ctx
    const journal = await meters.redis('transfers_read', () => redis.hgetall(keys.xfer))
    const before = Date.now() - TRANSFER_GRACE_MS
    for (const [transfer, value] of Object.entries(journal)) {
      const [item, to, at] = value.split('|').map(Number) as [number, number, number]
      if (at > before) continue
      const dest = sale.shards[to]
      if (dest) await meters.redis('stock_give', () => scripts.stockGive(dest, item, transfer))
      await meters.redis('transfer_done', () => redis.hdel(keys.xfer, transfer))
    }
  }
}
