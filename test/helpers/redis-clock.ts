import { eventually } from './eventually.ts'
import type { RedisClient } from '../../src/sale/redis-client.ts'

/**
 * Waits until the Redis clock has passed `ms` (epoch milliseconds). The Lua scripts decide
 * expiry by that clock (TIME), not by this process's, so this is the wait that cannot be early.
 */
export async function untilRedisTime (redis: RedisClient, ms: number): Promise<void> {
  await eventually(`Redis time past ${new Date(ms).toISOString()}`, async () => {
    const [sec, micro] = await redis.time()
    return Number(sec) * 1000 + Number(micro) / 1000 > ms
  })
}
