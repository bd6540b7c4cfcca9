import { execFile } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Cluster } from 'ioredis'
import { PortTaken } from './redis-cluster/node-process.ts'
import { ClusterProcesses } from './redis-cluster/processes.ts'
import { Topology } from './redis-cluster/topology.ts'
import type { ClusterStartOptions, LocalCluster, StartupTimes } from './redis-cluster/types.ts'

/**
 * A real Redis Cluster on the loopback interface: redis-server processes in a temporary
 * directory, formed by `redis-cli --cluster create`, with the operations failover and load
 * tests need. The benchmark and the tests both start clusters through this module;
 * test/helpers/redis-cluster.ts ties a cluster's life to a tap test. Its parts, in
 * redis-cluster/: the nodes' processes (node-process, processes, watchdog, ports) and what the
 * running nodes say of the cluster (topology).
 */
export type * from './redis-cluster/types.ts'
export { clusterPorts } from './redis-cluster/ports.ts'

const run = promisify(execFile)

function redisCliCreate (replicasPerMaster: number) {
  return async (addresses: string[]) => {
    const args = ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes']
    await run('redis-cli', args, { timeout: 60_000 }).catch((err) => {
      throw new Error(`redis-cli --cluster create failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`)
    })
  }
}

/** Starts a cluster of `masters` masters with `replicasPerMaster` replicas each (3 + 3 by default). */
export async function startLocalCluster (options: ClusterStartOptions = {}): Promise<LocalCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options)
    } catch (err) {
      // Another process may bind a picked port between picking and redis-server's bind.
      if (!(err instanceof PortTaken) || attempt >= 3) throw err
    }
  }
}

async function startOnce (options: ClusterStartOptions): Promise<LocalCluster> {
  const masters = options.masters ?? 3
  const replicasPerMaster = options.replicasPerMaster ?? 1
  if (masters < 3) throw new Error('a Redis Cluster needs at least 3 masters')

  const t0 = performance.now()
  const processes = new ClusterProcesses(await mkdtemp(join(tmpdir(), 'flashsale-cluster-')))
  try {
    const nodes = await processes.start(masters * (1 + replicasPerMaster), options.nodeTimeoutMs ?? 1000, options.serverArgs ?? [])
    const t1 = performance.now()
    const topology = new Topology(nodes)
    await (options.create ?? redisCliCreate(replicasPerMaster))(nodes.map((n) => n.address))
    const t2 = performance.now()
    await topology.converge(masters, options.readyTimeoutMs ?? 30_000)
    const t3 = performance.now()
    const client = processes.createClient(options.clientOptions)
    await client.ping()
    const t4 = performance.now()
    const ms = (from: number, to: number) => Math.round(to - from)
    const startup = { serversMs: ms(t0, t1), createMs: ms(t1, t2), convergeMs: ms(t2, t3), totalMs: ms(t0, t4) }
    return localCluster(processes, topology, client, startup)
  } catch (err) {
    await processes.stop()
    throw err
  }
}

function localCluster (processes: ClusterProcesses, topology: Topology, client: Cluster, startup: StartupTimes): LocalCluster {
  const { nodes } = topology
  return {
    seeds: nodes.map((n) => n.address).join(','),
    nodes,
    client,
    dir: processes.dir,
    startup,
    createClient: (options) => processes.createClient(options),
    masters: () => nodes.filter((n) => n.role === 'master' && n.state !== 'killed'),
    replicas: () => nodes.filter((n) => n.role === 'replica' && n.state !== 'killed'),
    slotOf: (key) => topology.slotOf(key),
    masterOf: (slotOrKey) => topology.masterOf(slotOrKey),
    kill: (node) => processes.kill(node),
    async killMaster (slotOrKey) {
      const master = await topology.masterOf(slotOrKey)
      await processes.kill(master)
      return master
    },
    waitForFailover: (timeoutMs = 30_000) => topology.waitForFailover(processes.lastDisruption ?? performance.now(), timeoutMs),
    pause: (node) => processes.pause(node),
    resume: (node) => processes.resume(node),
    moveSlot: (slotOrKey, to) => topology.moveSlot(slotOrKey, to),
    commandsProcessed: () => topology.commandsProcessed(),
    stop: () => processes.stop(),
  }
}
