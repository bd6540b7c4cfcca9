import type { NewSale, SaleRow } from '../repositories/sales.ts'
import { createSale, itemImageUrl, itemName, recentSale, recentSales, soldCounts } from '../repositories/sales.ts'
import type { SaleContext } from './context.ts'
import { saleShardKeys, type SaleKeys } from './keys.ts'
import { holdings, rebuildLoad, shareLoad } from './shard-load.ts'

export interface SaleProgress {
  total: number
  sold: number
  reserved: number
  available: number
}

export interface ItemView {
  id: number
  name: string
  image_url: string
  stock: number
  available: number
}

export interface Sale {
  readonly id: number
  /** Start of the hourly slot of a scheduled sale; null for an operator sale. */
  readonly slot: number | null
  readonly startsAt: number
  readonly endsAt: number
  readonly perUserLimit: number
  readonly reservationTtlSeconds: number
  readonly items: number
  readonly stockPerItem: number
  readonly unitsTotal: number
  /** `<id>.<token>`: whose state the sale's Redis keys must hold ("" before tokens existed). */
  readonly owner: string
  /** The keys of each shard the sale's stock is spread over (one, unless SALE_SHARDS said more). */
  readonly shards: readonly SaleKeys[]
}

const HOUR = 3_600_000
/** How long a sale's Redis state and its place in the catalog outlive the sale. */
export const RETENTION_MS = 24 * HOUR
/** With no current sale, how often a checkout may read the catalog again. */
const CATCH_UP_MS = 250
/** Beyond the request deadline, how long a lost shard waits for transfers in flight to land. */
const LOST_SHARD_GRACE_MS = 1_000
/** Past its end by this much, a sale gets no new attempts and needs no sync. */
export const SETTLED_AFTER_MS = 60_000

/**
 * The sales this instance knows: running, upcoming and recently ended, refreshed from Postgres
 * and kept loaded in Redis. The current sale is answered from memory, so checkout needs no
 * lookup and goes on while Postgres is down.
 */
export class SaleCatalog {
  private sales: Sale[] = []
  private cur: Sale | undefined
  /** Slots found taken or blocked by another sale, and when: asked again after a minute. */
  private readonly slotsChecked = new Map<number, number>()

  private readonly ctx: SaleContext
  private reloadedAt = 0
  private catchingUp: Promise<void> | undefined
  /** Sales with a shard found missing, and since when (see ensureLoaded). */
  private readonly missingSince = new Map<string, number>()
  /** Sales upserted while a refresh's query runs, one map per refresh in flight. */
  private readonly upserts = new Set<Map<string, SaleRow>>()

  constructor (ctx: SaleContext) {
    this.ctx = ctx
  }

  /** The sale whose window contains `now` (at most one by construction). */
  current (now = Date.now()): Sale | undefined {
    const c = this.cur
    if (c !== undefined && now >= c.startsAt && now < c.endsAt) return c
    this.cur = this.sales.find((s) => now >= s.startsAt && now < s.endsAt)
    return this.cur
  }

  get (id: number): Sale | undefined {
    return this.sales.find((s) => s.id === id)
  }

  /**
   * A sale of the retention window, from memory or else from Postgres (a sale another instance
   * created a moment ago); undefined when there is none.
   */
  async find (id: number): Promise<Sale | undefined> {
    const known = this.get(id)
    if (known || !Number.isSafeInteger(id)) return known
    const { meters, sql } = this.ctx
    const row = await meters.db('sale_by_id', () => recentSale(sql, id, RETENTION_MS / 1000))
    if (!row) return undefined
    this.upsert(row)
    return this.get(id)
  }

  all (): readonly Sale[] {
    return this.sales
  }

  /** Units of a sale: total, sold, reserved (not yet bought, expired or released), available. */
  async progress (sale: Sale): Promise<SaleProgress> {
    const { redis, meters } = this.ctx
    const reads = await meters.redis('sale_read', () =>
      Promise.all(sale.shards.map((keys) => redis.hmget(keys.meta, 'sold', 'reserved'))))
    let sold = 0
    let reserved = 0
    for (const [s, r] of reads) {
      sold += Number(s ?? 0)
      reserved += Number(r ?? 0)
    }
    return { total: sale.unitsTotal, sold, reserved, available: sale.unitsTotal - sold - reserved }
  }

  /** A page of a sale's items, from `offset`, with the units still free of each. */
  async items (sale: Sale, offset: number, limit: number): Promise<ItemView[]> {
    const { redis, meters } = this.ctx
    const ids: number[] = []
    for (let id = offset + 1; id <= Math.min(offset + limit, sale.items); id++) ids.push(id)
    if (ids.length === 0) return []
    const fields = ids.map(String)
    const shards = await meters.redis('items_read', () => Promise.all(sale.shards.map((keys) => redis.hmget(keys.stock, ...fields))))
    return ids.map((id, i) => ({
      id,
      name: itemName(id),
      image_url: itemImageUrl(id),
      stock: sale.stockPerItem,
      available: shards.reduce((n, free) => n + Number(free[i] ?? 0), 0),
    }))
  }

  /** Creates a sale (operator or schedule), loads it into Redis, and returns it. */
  async create (sale: Omit<NewSale, 'shards'>): Promise<Sale | null> {
    const { meters, sql, config } = this.ctx
    const created = await meters.db('sale_create', () => createSale(sql, { ...sale, shards: config.SALE_SHARDS }))
    if (!created) return null
    for (const row of [...created.changed, created.sale]) this.upsert(row)
    for (const row of created.changed) await this.ensureLoaded(this.get(Number(row.id))!)
    const fresh = this.get(Number(created.sale.id))!
    await this.ensureLoaded(fresh, true)
    return fresh
  }

  /**
   * Takes a sale ended or cancelled here: this instance's catalog has it at once, and its window
   * in Redis (which every instance's checkouts are judged by) is closed before this resolves.
   * Other instances' catalogs follow at their next refresh; their syncs cannot reopen it (see
   * lua/sale-sync.lua).
   */
  async changed (row: SaleRow): Promise<Sale> {
    this.upsert(row)
    const sale = this.get(Number(row.id))!
    await this.ensureLoaded(sale)
    return sale
  }

  /** Re-reads the catalog, schedules hourly sales when asked to, and keeps Redis in sync. */
  async refresh (): Promise<void> {
    if (this.ctx.config.SALE_SCHEDULE === 'hourly') await this.scheduleHourly()
    await this.reload()
    await this.syncAll()
  }

  /**
   * The current sale, or, when there is none, the one another instance may have just created:
   * the catalog is read again (at most every CATCH_UP_MS, one read shared by every caller), so a
   * sale that starts now on one instance is not refused as not active by another for a second.
   */
  async currentOrCaughtUp (): Promise<Sale | undefined> {
    const now = Date.now()
    if (this.current(now) || now - this.reloadedAt < CATCH_UP_MS) return this.current(now)
    this.catchingUp ??= this.reload().catch(() => {}).finally(() => { this.catchingUp = undefined })
    await this.catchingUp
    return this.current()
  }

  /** Reads the catalog's sales from Postgres. */
  private async reload (): Promise<void> {
    const { meters, sql } = this.ctx
    this.reloadedAt = Date.now()
    // A sale created or changed here while the query runs may be missing from its snapshot: what
    // upsert() records meanwhile is laid over the rows, so a sale answered 201 is never forgotten.
    const meanwhile = new Map<string, SaleRow>()
    this.upserts.add(meanwhile)
    try {
      const rows = await meters.db('sales_recent', () => recentSales(sql, RETENTION_MS / 1000))
      const byId = new Map(rows.map((r) => [r.id, r]))
      for (const row of meanwhile.values()) byId.set(row.id, row)
      this.sales = [...byId.values()].map((r) => this.toSale(r)).sort((a, b) => a.startsAt - b.startsAt)
      this.cur = undefined
    } finally {
      this.upserts.delete(meanwhile)
    }
  }

  /**
   * Keeps the window of every sale that is running, upcoming or just ended in Redis, reloading
   * any that Redis lost. Older sales are left alone: their reservations can no longer be bought,
   * and their purchases are answered from Postgres.
   */
  async syncAll (): Promise<void> {
    const since = Date.now() - SETTLED_AFTER_MS
    for (const sale of this.sales) if (sale.endsAt > since) await this.ensureLoaded(sale)
  }

  /**
   * Keeps the sale in Redis: every shard's window in sync, and shards Redis lost loaded again
   * from Postgres. `fresh` for a sale created a moment ago; otherwise a lost shard of a sale over
   * several is rebuilt only once it has been missing for longer than a checkout can take, so
   * that no transfer in flight to or from it is counted on both sides.
   */
  async ensureLoaded (sale: Sale, fresh = false): Promise<void> {
    const { scripts, meters, sql, redis, config } = this.ctx
    const window = {
      startsAt: sale.startsAt,
      endsAt: sale.endsAt,
      perUserLimit: sale.perUserLimit,
      ttlMs: sale.reservationTtlSeconds * 1000,
      expireAt: sale.endsAt + RETENTION_MS,
      owner: sale.owner,
    }
    const synced = await meters.redis('sale_sync', () => Promise.all(sale.shards.map((keys) => scripts.saleSync(keys, window))))
    const missing = synced.flatMap((ok, shard) => (ok === 1 ? [] : [shard]))
    const key = `${sale.id}`
    if (missing.length === 0) {
      this.missingSince.delete(key)
      return
    }
    const k = sale.shards.length
    if (k > 1 && !fresh) {
      const since = this.missingSince.get(key) ?? Date.now()
      this.missingSince.set(key, since)
      if (Date.now() - since < config.REQUEST_DEADLINE_MS + LOST_SHARD_GRACE_MS) return
    }
    const sold = await meters.db('sale_sold_counts', () => soldCounts(sql, sale.id))
    const present = sale.shards.filter((_, shard) => !missing.includes(shard))
    const others = present.length > 0 ? await Promise.all(present.map((keys) => holdings(redis, keys))) : []
    for (const shard of missing) {
      const load = others.length > 0 ? rebuildLoad(sold, others, sale, shard, k) : shareLoad(sold, shard, k)
      const done = await meters.redis('sale_load', () => scripts.saleLoad(sale.shards[shard]!, window, sale.items, sale.stockPerItem, load))
      const context = { sale_id: sale.id, shard, sold: sold.byItem.reduce((n, r) => n + r.n, 0) }
      if (done === 2) this.ctx.log.error(context, 'sale keys held another database\'s sale: set aside, sale rebuilt from postgres')
      else if (done === 1) this.ctx.log.info(context, others.length > 0 ? 'lost shard rebuilt from postgres and the other shards' : 'sale loaded into redis')
    }
    this.missingSince.delete(key)
  }

  /** Makes sure the current and the next hour each have their sale, created ahead of time. */
  private async scheduleHourly (): Promise<void> {
    const { config } = this.ctx
    const now = Date.now()
    const hour = Math.floor(now / HOUR) * HOUR
    for (const [slot, at] of this.slotsChecked) if (at < now - 60_000) this.slotsChecked.delete(slot)
    for (const slot of [hour, hour + HOUR]) {
      if (this.slotsChecked.has(slot) || this.sales.some((s) => s.slot === slot)) continue
      const sale = await this.create({
        slot: new Date(slot),
        starts_at: new Date(Math.max(slot, now)),
        ends_at: new Date(slot + HOUR),
        per_user_limit: config.PER_USER_LIMIT,
        reservation_ttl_seconds: config.RESERVATION_TTL_SECONDS,
        items: config.SALE_ITEMS,
        stock_per_item: config.SALE_STOCK_PER_ITEM,
      })
      if (!sale) this.slotsChecked.set(slot, now)
    }
  }

  private upsert (row: SaleRow) {
    for (const meanwhile of this.upserts) meanwhile.set(row.id, row)
    const sale = this.toSale(row)
    this.sales = [...this.sales.filter((s) => s.id !== sale.id), sale].sort((a, b) => a.startsAt - b.startsAt)
    this.cur = undefined
  }

  private toSale (row: SaleRow): Sale {
    const id = Number(row.id)
    return {
      id,
      slot: row.slot ? row.slot.getTime() : null,
      startsAt: row.starts_at.getTime(),
      endsAt: row.ends_at.getTime(),
      perUserLimit: row.per_user_limit,
      reservationTtlSeconds: row.reservation_ttl_seconds,
      items: row.items,
      stockPerItem: row.stock_per_item,
      unitsTotal: Number(row.units_total),
      owner: row.token ? `${id}.${row.token}` : '',
      shards: saleShardKeys(this.ctx.config.REDIS_KEY_PREFIX, id, row.token, row.shards),
    }
  }
}
