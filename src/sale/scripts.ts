import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RedisClient } from './context.ts'
import { ROOT } from '../paths.ts'
import { UnavailableError } from '../errors.ts'
import { ATTEMPT_GROUP, rateKeys, type SaleKeys } from './keys.ts'

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

/** The Lua scripts of a sale, each taking the sale's keys; see the header of each in lua/. */
export interface SaleScripts {
  checkout(keys: SaleKeys, ip: string, user: string, item: number, code: string, limits: CheckoutLimits,
    step?: CheckoutStep, transfer?: string): Promise<[string, number]>
  checkoutCancel(keys: SaleKeys, code: string): Promise<number>
  stockTake(keys: SaleKeys, item: number, transfer: string, to: number): Promise<number>
  stockGive(keys: SaleKeys, item: number, transfer: string): Promise<number>
  purchaseBegin(keys: SaleKeys, code: string, leaseMs: number): Promise<string[]>
  purchaseSettle(keys: SaleKeys, code: string, purchaseId: string | null): Promise<[string, string]>
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

const windowArgs = (w: SaleWindow): Arg[] => [w.startsAt, w.endsAt, w.perUserLimit, w.ttlMs, w.expireAt, w.owner]

/**
 * Registers the scripts on a client with defineCommand (EVALSHA, with the NOSCRIPT fallback)
 * and returns their typed wrappers.
 */
export function saleScripts (redis: RedisClient, durability: Durability = { replicas: 0, timeoutMs: 0 }): SaleScripts {
  for (const [name, definition] of Object.entries(SCRIPTS)) redis.defineCommand(name, definition)
  const r = redis as unknown as Commands
  // With replicas to wait for, a reservation (or a purchase's committing state) is answered only
  // once they have it: WAIT goes in the same pipeline, so it reaches the master that ran the script.
  const durable = <T>(name: 'checkout' | 'purchaseBegin', args: Arg[]): Promise<T> => {
    if (durability.replicas === 0) return r[name](...args) as Promise<T>
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
    checkout: (k, ip, user, item, code, l, step = '', transfer = '') => durable<[string, number]>('checkout', [k.meta, k.stock, k.users,
      k.res, k.due, k.log, ...rateKeys(k, ip, user), k.recv, String(item), user, code, l.ipMax, l.userMax, l.windowMs, step, transfer]),
    checkoutCancel: (k, code) => r.checkoutCancel(...k.state, code) as Promise<number>,
    stockTake: (k, item, transfer, to) => r.stockTake(k.stock, k.xfer, String(item), transfer, to) as Promise<number>,
    stockGive: (k, item, transfer) => r.stockGive(k.stock, k.recv, String(item), transfer) as Promise<number>,
    purchaseBegin: (k, code, leaseMs) => durable<string[]>('purchaseBegin', [...k.state, code, leaseMs]),
    purchaseSettle: (k, code, purchaseId) =>
      r.purchaseSettle(...k.state, code, purchaseId === null ? 'unsold' : 'sold', purchaseId ?? '') as Promise<[string, string]>,
    sweep: (k, limit, leaseMs) => r.sweep(...k.state, limit, leaseMs) as Promise<[number, number, ...string[]]>,
    saleSync: (k, w) => r.saleSync(...k.state, k.xfer, k.recv, ...windowArgs(w)) as Promise<number>,
    async saleLoad (k, w, items, stockPerItem, load) {
      const keys = [...k.state, k.log, k.xfer, k.recv]
      const args: Arg[] = [...windowArgs(w), items, stockPerItem, ATTEMPT_GROUP, load.shard, load.shards, load.mode]
      if (load.byItem.length + load.byUser.length <= LOAD_CHUNK) {
        args.push(load.byItem.length)
        for (const s of load.byItem) args.push(s.item_id, s.n)
        for (const s of load.byUser) args.push(s.user_id, s.n)
        return r.saleLoad(...keys, ...args) as Promise<number>
      }
      // Too large for one call: the pairs are staged in chunks, and the script takes them from there.
      const id = randomBytes(8).toString('hex')
      await stage(redis, `${k.stock}:load:${id}`, load.byItem.map((s) => [s.item_id, s.n]))
      await stage(redis, `${k.users}:load:${id}`, load.byUser.map((s) => [s.user_id, s.n]))
      return r.saleLoad(...keys, ...args, `staged:${id}`) as Promise<number>
    },
  }
}
