import type { Test } from 'tap'
import { startLocalCluster, type ClusterStartOptions, type LocalCluster } from '../../kit/redis-cluster.ts'

export * from '../../kit/redis-cluster.ts'

/**
 * A Redis Cluster of the test's own (3 masters + 3 replicas unless told otherwise), stopped at
 * the test's teardown whatever happens; see kit/redis-cluster.ts for what it offers.
 */
export async function startRedisCluster (t: Test, options?: ClusterStartOptions): Promise<LocalCluster> {
  const cluster = await startLocalCluster(options)
  t.teardown(() => cluster.stop())
  return cluster
}
