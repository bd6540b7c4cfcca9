import type { RedisClient } from './redis-client.ts'
import { homeShard, type SaleKeys } from './keys.ts'
import type { ShardLoad } from './scripts.ts'

/** What Postgres knows was sold in a sale, per item and per user. */
export interface SoldCounts {
  byItem: readonly { item_id: number; n: number }[]
  byUser: readonly { user_id: string; n: number }[]
}

/** Units of each item a shard holds: free, held by live reservations, journaled in flight. */
type Holdings = Map<number, number>

/** What one shard holds of each item right now, read while it serves (see docs/scaling.md). */
export async function holdings (redis: RedisClient, keys: SaleKeys): Promise<Holdings> {
  const [stock, reservations, transfers] = await Promise.all([redis.hgetall(keys.stock), redis.hvals(keys.res), redis.hvals(keys.xfer)])
  const held: Holdings = new Map()
  const add = (item: number, n: number) => held.set(item, (held.get(item) ?? 0) + n)
  for (const [item, free] of Object.entries(stock)) add(Number(item), Number(free))
  // Reserved or committing: the unit is the buyer's until the reservation ends.
  for (const v of reservations) if (v.startsWith('R|') || v.startsWith('C|')) add(Number(v.split('|')[1]), 1)
  for (const v of transfers) add(Number(v.split('|')[0]), 1)
  return held
}

/** The users' part of a shard's load: the units each of its users bought. */
function usersOf (sold: SoldCounts, shard: number, shards: number) {
  return sold.byUser.filter((u) => homeShard(u.user_id, shards) === shard)
}

/**
 * How to load shard `shard` of a sale whose other shards are all missing too (a new sale, or a
 * Redis that lost everything): its share of what Postgres says is left.
 */
export function shareLoad (sold: SoldCounts, shard: number, shards: number): ShardLoad {
  return { shard, shards, mode: 'share', byItem: sold.byItem, byUser: usersOf(sold, shard, shards) }
}

/**
 * How to load a lost shard while the others serve: every unit neither sold (Postgres) nor held by
 * another shard (free, reserved, or in flight). A unit moving between the others while they are
 * read can be counted twice, never zero times: the rebuilt shard may get a unit fewer, never more.
 */
export function rebuildLoad (
  sold: SoldCounts, others: readonly Holdings[], sale: { items: number; stockPerItem: number }, shard: number, shards: number
): ShardLoad {
  const soldOf = new Map(sold.byItem.map((s) => [s.item_id, s.n]))
  const byItem: { item_id: number; n: number }[] = []
  for (let item = 1; item <= sale.items; item++) {
    let free = sale.stockPerItem - (soldOf.get(item) ?? 0)
    for (const h of others) free -= h.get(item) ?? 0
    if (free > 0) byItem.push({ item_id: item, n: free })
  }
  return { shard, shards, mode: 'explicit', byItem, byUser: usersOf(sold, shard, shards) }
}
