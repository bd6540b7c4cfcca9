import { join } from 'node:path'
import { createSale } from '../kit/operator-client.ts'
import { ROOT } from '../src/paths.ts'
import { createScratchDatabase, uniqueName } from '../kit/scratch-servers.ts'
import { measurePhase, startLocalCluster, type PhaseLoad } from '../kit/cluster-load.ts'
import { client, hammer, type Throughput } from './load.ts'
import { onInterrupt, startChild } from './processes.ts'

export interface ClusterRun {
  label: string
  shards: number
  waitReplicas: number
  checkout: Throughput
  load: PhaseLoad<Throughput>
}

/**
 * The service on a local Redis Cluster (3 masters, 3 replicas): one hot sale (one item, stock
 * to spare) checked out by distinct buyers for `seconds`, with SALE_SHARDS=1, with 3, and with 1
 * while every reservation waits for a replica (REDIS_WAIT_REPLICAS=1). Reports each master's
 * commands/s, to see how evenly a hot sale spreads, and the throughput of each.
 */
export async function clusterRuns (
  opts: { postgresAdminUrl: string; connections: number; seconds: number; nodeFlags: string[]; log: (m: string) => void }
): Promise<ClusterRun[]> {
  const cluster = await startLocalCluster()
  const db = await createScratchDatabase(opts.postgresAdminUrl, { prefix: 'flashsale_bench' })
  const release = onInterrupt(() => Promise.allSettled([db.drop(), cluster.stop()]))
  const runs: ClusterRun[] = []
  try {
    for (const [label, shards, waitReplicas] of [['SALE_SHARDS=1', 1, 0], ['SALE_SHARDS=3', 3, 0], ['SALE_SHARDS=1, WAIT 1', 1, 1]] as const) {
      const token = `bench-${uniqueName('token')}`
      const service = await startChild(`cluster ${label}`, join(ROOT, 'bench', 'service.ts'), {
        DATABASE_URL: db.url,
        REDIS_CLUSTER_NODES: cluster.seeds,
        REDIS_KEY_PREFIX: uniqueName('bench').replace(/_/g, '-'),
        ADMIN_TOKEN: token,
        SALE_SCHEDULE: 'off',
        LOG_LEVEL: 'warn',
        RATE_LIMIT_IP_MAX: '10000000',
        SALE_SHARDS: String(shards),
        REDIS_WAIT_REPLICAS: String(waitReplicas),
      }, opts.nodeFlags)
      const api = client(service.url, 4)
      try {
        await createSale(api.send, token, { items: 1, stock_per_item: 1_000_000, per_user_limit: 1_000_000, reservation_ttl_seconds: 3_600 })
        const path = (i: number) => `/checkout?user_id=${label.length}h${i}&id=1`
        await hammer(service.url, (i) => path(i + 10_000_000), { connections: opts.connections, duration: 1 })
        const load = await measurePhase(cluster, () => hammer(service.url, path, { connections: opts.connections, duration: opts.seconds }))
        runs.push({ label, shards, waitReplicas, checkout: load.result, load })
        opts.log(`cluster ${label}: checkout ${load.result.rps} req/s, p99 ${load.result.p99_ms} ms; ` +
          `${load.masters.map((m) => `${m.perSecond}/s`).join(' / ')} per master, imbalance ${load.imbalance.toFixed(2)}`)
      } finally {
        await api.close()
        await service.stop()
      }
    }
  } finally {
    await db.drop()
    await cluster.stop()
    release()
  }
  return runs
}
