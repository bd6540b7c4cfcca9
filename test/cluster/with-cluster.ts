import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { startLocalCluster } from '../../kit/redis-cluster.ts'

/**
 * Runs a command against a real local Redis Cluster (3 masters, 3 replicas, on spare ports):
 *   node test/cluster/with-cluster.ts npx tap test/routes/*.test.ts ...
 * The command gets TEST_REDIS_CLUSTER_NODES, which the test helpers use instead of
 * TEST_REDIS_URL; the cluster is stopped when the command ends, and its exit code is returned.
 */
const [command, ...args] = process.argv.slice(2)
if (!command) {
  console.error('usage: node test/cluster/with-cluster.ts <command> [args...]')
  process.exit(2)
}
const cluster = await startLocalCluster()
console.error(`redis cluster up in ${cluster.startup.totalMs} ms: ${cluster.seeds}`)
const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, TEST_REDIS_CLUSTER_NODES: cluster.seeds } })
const stop = (signal: NodeJS.Signals) => { child.kill(signal) }
process.once('SIGINT', stop).once('SIGTERM', stop)
const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null]
await cluster.stop()
process.exit(code ?? (signal ? 1 : 0))
