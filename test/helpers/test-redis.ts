import { Cluster, Redis } from 'ioredis'
import type { Config } from '../../src/config.ts'
import type { RedisClient } from '../../src/sale/redis-client.ts'
import { TEST_REDIS_URL } from './services.ts'

/**
 * The tests' Redis: the server at TEST_REDIS_URL, or, when TEST_REDIS_CLUSTER_NODES names the
 * seeds of a Redis Cluster (test/cluster/with-cluster.ts starts one), that cluster: the same
 * suites then run against each.
 */
export const TEST_CLUSTER_NODES = (process.env.TEST_REDIS_CLUSTER_NODES ?? '').split(',').filter(Boolean)

/** The service's Redis settings for the tests' Redis; locks live there too. */
export function testRedisConfig (): Partial<Config> {
  return TEST_CLUSTER_NODES.length > 0
    ? { REDIS_CLUSTER_NODES: TEST_CLUSTER_NODES, REDLOCK_REDIS_URLS: [] }
    : { REDIS_URL: TEST_REDIS_URL, REDLOCK_REDIS_URLS: [TEST_REDIS_URL] }
}

/** A client of the test's own. */
export function testRedisClient (): RedisClient {
  if (TEST_CLUSTER_NODES.length === 0) return new Redis(TEST_REDIS_URL)
  return new Cluster(TEST_CLUSTER_NODES.map((seed) => {
    const at = seed.lastIndexOf(':')
    return { host: seed.slice(0, at), port: Number(seed.slice(at + 1)) }
  }))
}

/** The keys matching `pattern`, from every master of a cluster. */
export async function findKeys (redis: RedisClient, pattern: string): Promise<string[]> {
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis]
  return (await Promise.all(servers.map((server) => server.keys(pattern)))).flat()
}

/** Removes every key under `prefix`, on every master of a cluster. */
export async function dropKeys (redis: RedisClient, prefix: string): Promise<void> {
  // One key at a time: keys of different slots cannot go in one command on a cluster.
  for (const key of await findKeys(redis, `${prefix}:*`)) await redis.unlink(key)
}
