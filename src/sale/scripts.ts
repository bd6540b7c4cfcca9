import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RedisClient } from './redis-client.ts'
import { ROOT } from '../paths.ts'
import { UnavailableError } from '../errors.ts'
import { ATTEMPT_GROUP, rateKeys, type SaleKeys } from './keys.ts'
import type { ScriptLock } from './locks.ts'

const read = (file: string) => readFileSync(join(ROOT, 'lua', file), 'utf8')
const PRELUDE = read('prelude.lua')

/**
 * A script of lua/, with the prelude prepended. Its number of keys is the one its header
 * declares: the highest `KEYS[n]` the opening comment names.
 */
function script (file: string): { numberOfKeys: number; lua: string } {
  const body = read(file)
  const header = /^(?:--.*\n)+/.exec(body)?.[0] ?? ''
  const numberOfKeys = Math.max(0, ...[...header.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])))
  if (numberOfKeys === 0) throw new Error(`lua/${file}: its header declares no KEYS`)
  return { numberOfKeys, lua: `${PRELUDE}\n${body}` }
}

const SCRIPTS = {
  checkout: script('checkout.lua'),
  checkoutCancel: script('checkout-cancel.lua'),
  stockTake: script('stock-take.lua'),
  stockGive: script('stock-give.lua'),
  purchaseBegin: script('purchase-begin.lua'),
  purchaseSettle: script('purchase-settle.lua'),
  purchaseLockBegin: script('purchase-lock-begin.lua'),
  purchaseSettleRelease: script('purchase-settle-release.lua'),
  lockRelease: script('lock-release.lua'),
  rateCount: script('rate-count.lua'),
  sweep: script('sweep.lua'),
  saleSync: script('sale-sync.lua'),
  saleLoad: script('sale-load.lua'),
}

type Arg = string | number
/** The commands defineCommand adds: keys first, then arguments, as each header says. */
type Commands = { [K in keyof typeof SCRIPTS]: (...args: Arg[]) => Promise<unknown> }

/** Replicas a write must reach before it is answered (REDIS_WAIT_REPLICAS), and for how long. */
export interface Durability {
  replicas: number
  timeoutMs: number
}

/** A sale's window and rules as Redis keeps them (see lua/sale-sync.lua). */
export interface SaleWindow {
  startsAt: number
  endsAt: number
  perUserLimit: number
  ttlMs: number
  /** When the sale's keys expire. */
  expireAt: number
  owner: string
}

export interface CheckoutLimits {
  ipMax: number
  userMax: number
  windowMs: number
}

/** A purchase's count against its address's limit: max 0 counts nothing (a retry, or no limit). */
export interface PurchaseRate {
  key: string
  max: number
  windowMs: number
}

/**
 * What a shard is loaded with (see lua/sale-load.lua): its share of what Postgres says is left of
 * each item (`share`, the values are units sold per item), or the free units it is told
 * (`explicit`: a lost shard rebuilt from what the others hold); and the units its users bought.
 */
export interface ShardLoad {
  shard: number
  shards: number
  mode: 'share' | 'explicit'
  byItem: readonly { item_id: number; n: number }[]
  byUser: readonly { user_id: string; n: number }[]
}

/** The step of a checkout of a sale over several shards (see lua/checkout.lua). */
export type CheckoutStep = '' | 'first' | 'final'

/** One checkout's decision, as lua/checkout.lua takes it. */
export interface CheckoutCall {
  ip: string
  user: string
  item: number
  code: string
  limits: CheckoutLimits
  step?: CheckoutStep
  /** With step 'final': the transfer id of a unit another shard took for this buyer. */
  transfer?: string
}

/**
 * A reservation's state as the scripts keep it (one letter in Redis, see lua/prelude.lua):
 * reserved, committing (a purchase is being inserted), sold, or returned to stock; none for a
 * code Redis does not know.
 */
export type ReservationState = 'reserved' | 'committing' | 'sold' | 'returned' | 'none'
const STATES: Readonly<Record<string, ReservationState>> = { R: 'reserved', C: 'committing', S: 'sold', X: 'returned', '': 'none' }
const stateOf = (letter: string): ReservationState => {
  const state = STATES[letter]
  if (state === undefined) throw new Error(`unknown reservation state from Redis: ${JSON.stringify(letter)}`)
  return state
}

/** A settle's effect: the reservation's state before and after it (lua/purchase-settle.lua). */
export interface Settled {
  before: ReservationState
  after: ReservationState
}

/** What a purchase's first step found (lua/purchase-begin.lua); `busy` only when it also takes the lock. */
export type Begun =
  | ['not_found']
  | ['sold', item: string, user: string, purchaseId: string]
  | ['expired', item: string, user: string, returnedNow?: number]
  | ['commit' | 'settle', item: string, user: string]
  | ['busy']
  | ['rate_limited', ms: number]

/** The Lua scripts of a sale, each taking the sale's keys; see the header of each in lua/. */
export interface SaleScripts {
  checkout(keys: SaleKeys, call: CheckoutCall): Promise<[string, number]>
  checkoutCancel(keys: SaleKeys, code: string): Promise<number>
  stockTake(keys: SaleKeys, item: number, transfer: string, to: number): Promise<number>
  stockGive(keys: SaleKeys, item: number, transfer: string): Promise<number>
  purchaseBegin(keys: SaleKeys, code: string, leaseMs: number, rate?: PurchaseRate): Promise<Begun>
  purchaseSettle(keys: SaleKeys, code: string, purchaseId: string | null): Promise<Settled>
  /** purchaseBegin under a lock it takes in the same script, on a Redis that holds both. */
  purchaseLockBegin(keys: SaleKeys, code: string, leaseMs: number, lock: ScriptLock, rate?: PurchaseRate): Promise<Begun>
  /**
   * purchaseSettle, then the lock released if it still holds its value; with `onlyIfHeld`, the
   * settle too happens only while the lock holds it (a try given up on).
   */
  purchaseSettleRelease(keys: SaleKeys, code: string, purchaseId: string | null, lock: ScriptLock, onlyIfHeld?: boolean): Promise<Settled>
  /** Releases a lock purchaseLockBegin took, if it still holds its value: 1 when released. */
  lockRelease(lock: ScriptLock): Promise<number>
  /** Counts one request at `rate.key`: the ms left in its window once past the limit, else 0. */
  rateCount(rate: PurchaseRate): Promise<number>
  sweep(keys: SaleKeys, limit: number, leaseMs: number): Promise<[number, number, ...string[]]>
  saleSync(keys: SaleKeys, window: SaleWindow): Promise<number>
  saleLoad(keys: SaleKeys, window: SaleWindow, items: number, stockPerItem: number, load: ShardLoad): Promise<number>
}

/** Pairs a sale-load call carries itself; a larger load is staged in chunks of this many. */
export const LOAD_CHUNK = 5_000
/** Staged pairs a loader that died before its last call left behind expire after this. */
const STAGE_TTL_MS = 600_000

/** Writes `pairs` into the hash `key`, LOAD_CHUNK pairs a command. */
async function stage (redis: RedisClient, key: string, pairs: readonly Arg[][]): Promise<void> {
  for (let i = 0; i < pairs.length; i += LOAD_CHUNK) {
    await redis.hset(key, pairs.slice(i, i + LOAD_CHUNK).flat())
    await redis.pexpire(key, STAGE_TTL_MS)
  }
}

/** A settle script's reply, read. */
const settled = (reply: unknown): Settled => {
  const [before, after] = reply as [string, string]
  return { before: stateOf(before), after: stateOf(after) }
}

/** A settle's arguments for a purchase's outcome: its id when bought. */
const outcome = (purchaseId: string | null) => [purchaseId === null ? 'unsold' : 'sold', purchaseId ?? '']

/** A purchase's rate key and limit; without one, a key in the sale's slot that is not counted. */
const rateArgs = (keys: SaleKeys, rate: PurchaseRate | undefined): [key: string, max: number, windowMs: number] =>
  rate ? [rate.key, rate.max, rate.windowMs] : [`${keys.tag}:ratelimit:none`, 0, 0]

const windowArgs = (w: SaleWindow): Arg[] => [w.startsAt, w.endsAt, w.perUserLimit, w.ttlMs, w.expireAt, w.owner]

/**
 * Registers the scripts on a client with defineCommand (EVALSHA, with the NOSCRIPT fallback)
 * and returns their typed wrappers.
 */
export function saleScripts (redis: RedisClient, durability: Durability = { replicas: 0, timeoutMs: 0 }): SaleScripts {
  for (const [name, definition] of Object.entries(SCRIPTS)) redis.defineCommand(name, definition)
  const commands = redis as unknown as Commands
  // With replicas to wait for, a reservation (or a purchase's committing state) is answered only
  // once they have it: WAIT goes in the same pipeline, so it reaches the master that ran the script.
  const durable = <T>(name: 'checkout' | 'purchaseBegin' | 'purchaseLockBegin', args: Arg[]): Promise<T> => {
    if (durability.replicas === 0) return commands[name](...args) as Promise<T>
    const pipeline = redis.pipeline() as unknown as Commands & { wait(n: number, ms: number): unknown, exec(): Promise<[Error | null, unknown][]> }
    pipeline[name](...args)
    pipeline.wait(durability.replicas, durability.timeoutMs)
    return pipeline.exec().then((results) => {
      const [[err, reply], [waitErr, acked]] = results as [[Error | null, unknown], [Error | null, unknown]]
      if (err) throw err
      // A WAIT that failed (timed out, connection closed) confirmed nothing either.
      if (waitErr || !(Number(acked) >= durability.replicas)) throw new UnavailableError('redis-replicas', { cause: waitErr ?? undefined })
      return reply as T
    })
  }
  return {
    checkout: (keys, { ip, user, item, code, limits, step = '', transfer = '' }) => durable<[string, number]>('checkout', [
      keys.meta, keys.stock, keys.users, keys.res, keys.due, keys.log, ...rateKeys(keys, ip, user), keys.recv,
      String(item), user, code, limits.ipMax, limits.userMax, limits.windowMs, step, transfer,
    ]),
    checkoutCancel: (keys, code) => commands.checkoutCancel(...keys.state, code) as Promise<number>,
    stockTake: (keys, item, transfer, to) => commands.stockTake(keys.stock, keys.xfer, String(item), transfer, to) as Promise<number>,
    stockGive: (keys, item, transfer) => commands.stockGive(keys.stock, keys.recv, String(item), transfer) as Promise<number>,
    purchaseBegin: (keys, code, leaseMs, rate) => {
      const [key, max, windowMs] = rateArgs(keys, rate)
      return durable<Begun>('purchaseBegin', [...keys.state, key, code, leaseMs, max, windowMs])
    },
    purchaseSettle: (keys, code, purchaseId) => commands.purchaseSettle(...keys.state, code, ...outcome(purchaseId)).then(settled),
    purchaseLockBegin: (keys, code, leaseMs, lock, rate) => {
      const [key, max, windowMs] = rateArgs(keys, rate)
      return durable<Begun>('purchaseLockBegin', [...keys.state, lock.key, key, code, leaseMs, lock.value, lock.ttlMs, max, windowMs])
    },
    purchaseSettleRelease: (keys, code, purchaseId, lock, onlyIfHeld = false) =>
      commands.purchaseSettleRelease(...keys.state, lock.key, code, ...outcome(purchaseId), lock.value, onlyIfHeld ? '1' : '').then(settled),
    lockRelease: (lock) => commands.lockRelease(lock.key, lock.value) as Promise<number>,
    rateCount: (rate) => commands.rateCount(rate.key, rate.max, rate.windowMs) as Promise<number>,
    sweep: (keys, limit, leaseMs) => commands.sweep(...keys.state, limit, leaseMs) as Promise<[number, number, ...string[]]>,
    saleSync: (keys, window) => commands.saleSync(...keys.state, keys.xfer, keys.recv, ...windowArgs(window)) as Promise<number>,
    async saleLoad (keys, window, items, stockPerItem, load) {
      const keyList = [...keys.state, keys.log, keys.xfer, keys.recv]
      const args: Arg[] = [...windowArgs(window), items, stockPerItem, ATTEMPT_GROUP, load.shard, load.shards, load.mode]
      if (load.byItem.length + load.byUser.length <= LOAD_CHUNK) {
        args.push(load.byItem.length)
        for (const s of load.byItem) args.push(s.item_id, s.n)
        for (const s of load.byUser) args.push(s.user_id, s.n)
        return commands.saleLoad(...keyList, ...args) as Promise<number>
      }
      // Too large for one call: the pairs are staged in chunks, and the script takes them from there.
      const id = randomBytes(8).toString('hex')
      await stage(redis, `${keys.stock}:load:${id}`, load.byItem.map((s) => [s.item_id, s.n]))
      await stage(redis, `${keys.users}:load:${id}`, load.byUser.map((s) => [s.user_id, s.n]))
      return commands.saleLoad(...keyList, ...args, `staged:${id}`) as Promise<number>
    },
  }
}
