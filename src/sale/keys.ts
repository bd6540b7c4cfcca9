import { randomFillSync } from 'node:crypto'
import calculateSlot from 'cluster-key-slot'

/**
 * The one place Redis keys are built. All keys of one shard of a sale share one hash tag,
 * `{prefix:sale.token}` for a sale of one shard and `{prefix:sale.token.suffix}` for each shard of
 * a sale over several (see docs/scaling.md), so every script touches a single slot. The token is
 * the sale's own random one from Postgres: a sale of the same id in another database (a fresh
 * one, or one restored from a backup) never meets these keys.
 */
export interface SaleKeys {
  /** `prefix:{prefix:sale.token}`: every key of the sale starts with it. */
  readonly tag: string
  readonly meta: string
  readonly stock: string
  readonly users: string
  readonly res: string
  readonly due: string
  readonly log: string
  /** Units taken from this shard for a buyer homed on another, until acknowledged. */
  readonly xfer: string
  /** Transfer ids this shard has received: receiving one twice adds nothing. */
  readonly recv: string
  /** The five state keys, in the order every script expects them. */
  readonly state: readonly [string, string, string, string, string]
}

function keysOf (tag: string): SaleKeys {
  const meta = `${tag}:meta`
  const stock = `${tag}:stock`
  const users = `${tag}:users`
  const res = `${tag}:res`
  const due = `${tag}:due`
  return { tag, meta, stock, users, res, due, log: `${tag}:log`, xfer: `${tag}:xfer`, recv: `${tag}:recv`, state: [meta, stock, users, res, due] }
}

const SLOTS = 16_384

/**
 * The keys of each shard of a sale. With more than one, shard s's tag gets the first suffix
 * (`s`, `s-1`, `s-2`, ...) whose slot falls in the s-th k-th of the slot space, so the shards of a
 * sale sit on different masters of a cluster whose masters split the slots evenly (as
 * `redis-cli --cluster create` does).
 */
export function saleShardKeys (prefix: string, saleId: number, token: string, shards: number): SaleKeys[] {
  // Sales created before tokens existed keep the keys they had.
  const base = token ? `${prefix}:${saleId}.${token}` : `${prefix}:${saleId}`
  if (shards === 1) return [keysOf(`${prefix}:{${base}}`)]
  return Array.from({ length: shards }, (_, s) => {
    const [from, to] = [Math.floor((s * SLOTS) / shards), Math.floor(((s + 1) * SLOTS) / shards)]
    for (let n = 0; ; n++) {
      const tag = `{${base}.${n === 0 ? s : `${s}-${n}`}}`
      const slot = calculateSlot(tag)
      if (slot >= from && slot < to) return keysOf(`${prefix}:${tag}`)
    }
  })
}

/** The keys of a sale of one shard. */
export function saleKeys (prefix: string, saleId: number, token: string): SaleKeys {
  return saleShardKeys(prefix, saleId, token, 1)[0]!
}

/** The shard a user's count, reservations and purchases live on. */
export function homeShard (userId: string, shards: number): number {
  return shards === 1 ? 0 : calculateSlot(userId) % shards
}

/**
 * A fresh reservation code, `<sale id>-<32 hex>`. For a sale over several shards, the first byte
 * of the hex part is the shard the reservation lives on; the rest is random (120 bits).
 */
export function newCode (saleId: number, shard: number, shards: number): string {
  if (spent === entropy.length) {
    randomFillSync(entropy)
    spent = 0
  }
  const bytes = entropy.subarray(spent, spent += 16)
  if (shards > 1) bytes[0] = shard
  return `${saleId}-${bytes.toString('hex')}`
}
// One system call fills codes for 256 checkouts: asking for 16 bytes at a time cost a call each.
const entropy = Buffer.allocUnsafe(16 * 256)
let spent = entropy.length

export function shardOfCode (code: string, shards: number): number {
  return shards === 1 ? 0 : parseInt(code.slice(code.indexOf('-') + 1, code.indexOf('-') + 3), 16)
}

/**
 * The item's first shard (where its odd units start) first, then the others: the order the
 * shards of a sale are asked for a unit the buyer's home shard lacks.
 */
export function shardsToAsk (item: number, home: number, shards: number): number[] {
  const order: number[] = []
  for (let n = 0; n < shards; n++) {
    const s = (item + n) % shards
    if (s !== home) order.push(s)
  }
  return order
}

/** Where @fastify/rate-limit counts requests per address on the other buyer routes. */
export function routeRateKeyPrefix (prefix: string): string {
  return `${prefix}:ratelimit:`
}

/** Checkout rate counters, in the sale's slot so the checkout script can count them. */
export function rateKeys (keys: SaleKeys, ip: string, user: string): [ip: string, user: string] {
  return [`${keys.tag}:ratelimit:ip:${ip}`, `${keys.tag}:ratelimit:user:${user}`]
}

/** A client address's purchase counter, in the sale's slot so the purchase's first script counts it. */
export function purchaseRateKey (keys: SaleKeys, ip: string): string {
  return `${keys.tag}:ratelimit:purchase-ip:${ip}`
}

/** The same counter for a purchase of a sale Redis no longer holds (answered from Postgres). */
export function purchaseFallbackRateKey (prefix: string, ip: string): string {
  return `${prefix}:ratelimit:purchase-ip:${ip}`
}

export function lockResource (prefix: string, saleId: number, code: string): string {
  return `${prefix}:{${prefix}:${saleId}}:lock:${code}`
}

/** Consumer group that drains every sale's attempt stream into Postgres. */
export const ATTEMPT_GROUP = 'attempt-log'

/**
 * Reservation codes carry their sale id, so a purchase finds its keys without a lookup:
 * `<sale id>-<32 hex>`.
 */
export const CODE_PATTERN = '^[1-9][0-9]{0,15}-[0-9a-f]{32}$'

export function saleIdOfCode (code: string): number {
  return Number(code.slice(0, code.indexOf('-')))
}
