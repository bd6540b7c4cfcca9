import type { Test } from 'tap'
import { saleScripts, type SaleScripts } from '../../src/sale/scripts.ts'
import { saleKeys, type SaleKeys } from '../../src/sale/keys.ts'
import { uniqueName } from '../../kit/scratch-servers.ts'
import { dropKeys, testRedisClient } from './test-redis.ts'
import type { RedisClient } from '../../src/sale/redis-client.ts'

/** Whose state the fixture's sale is (see lua/sale-sync.lua). */
export const OWNER = '1.tok'

export interface LuaFixture {
  redis: RedisClient
  scripts: SaleScripts
  keys: SaleKeys
  /** Loads a sale into Redis directly (no Postgres): window relative to now, in ms. */
  load(opts: { items: number; stock: number; limit?: number; ttlMs?: number; startIn?: number; endIn?: number; sold?: [string, number][]; users?: [string, number][] }): Promise<number>
  /** A reservation's state as stored: [state, item, user, expires, purchase id?]. */
  reservation(code: string): Promise<string[] | null>
  meta(): Promise<Record<string, number>>
}

/** The Lua scripts against real Redis under a key prefix of the test's own. */
export async function luaFixture (t: Test): Promise<LuaFixture> {
  const prefix = uniqueName('lua').replace(/_/g, '-')
  const redis = testRedisClient()
  const scripts = saleScripts(redis)
  const keys = saleKeys(prefix, 1, 'tok')
  t.teardown(async () => {
    await dropKeys(redis, prefix)
    await redis.quit()
  })
  return {
    redis,
    scripts,
    keys,
    async load ({ items, stock, limit = 10, ttlMs = 60_000, startIn = -1_000, endIn = 3_600_000, sold = [], users = [] }) {
      const now = Date.now()
      const window = { startsAt: now + startIn, endsAt: now + endIn, perUserLimit: limit, ttlMs, expireAt: now + 86_400_000, owner: OWNER }
      return scripts.saleLoad(keys, window, items, stock, {
        shard: 0,
        shards: 1,
        mode: 'share',
        byItem: sold.map(([item, n]) => ({ item_id: Number(item), n })),
        byUser: users.map(([user, n]) => ({ user_id: user, n })),
      })
    },
    async reservation (code) {
      const v = await redis.hget(keys.res, code)
      return v === null ? null : v.split('|')
    },
    async meta () {
      const m = await redis.hgetall(keys.meta)
      return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)]))
    },
  }
}

export function checkout (f: LuaFixture, item: number, user: string, code: string, limits = { ip: 0, user: 0, windowMs: 1_000 }) {
  return f.scripts.checkout(f.keys, { ip: '127.0.0.1', user, item, code, limits: { ipMax: limits.ip, userMax: limits.user, windowMs: limits.windowMs } })
}
