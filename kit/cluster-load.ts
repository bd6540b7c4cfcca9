import type { LocalCluster, NodeCommands } from './redis-cluster.ts'

export { startLocalCluster, type ClusterStartOptions, type LocalCluster } from './redis-cluster.ts'

/** What one master served during a phase. */
export interface ShardLoad {
  address: string
  commands: number
  perSecond: number
  /** Of all the commands the masters served, this master's part (0..1). */
  share: number
}

export interface PhaseLoad<T> {
  result: T
  seconds: number
  /** Masters as they are at the end of the phase, busiest first. */
  masters: ShardLoad[]
  totalPerSecond: number
  /**
   * The busiest master's load over the mean: 1 when the phase spread evenly, the number of
   * masters when one master served everything (a hot slot).
   */
  imbalance: number
}

/**
 * Runs `phase` and reports how its Redis commands spread over the cluster's masters, from
 * total_commands_processed read on every node before and after. Replicas are left out: their
 * count is mostly what they replicate.
 */
export async function measurePhase<T> (cluster: LocalCluster, phase: () => Promise<T>): Promise<PhaseLoad<T>> {
  const before = byAddress(await cluster.commandsProcessed())
  const start = performance.now()
  const result = await phase()
  const seconds = (performance.now() - start) / 1000
  const after = await cluster.commandsProcessed()
  const served = after.filter((n) => n.role === 'master').map((n) => ({
    address: n.address,
    // The first reading's INFO is counted in the second one: it is not the phase's.
    commands: Math.max(0, n.commands - (before.get(n.address) ?? n.commands) - 1),
  }))
  const total = served.reduce((sum, n) => sum + n.commands, 0)
  const masters = served
    .map((n) => ({ ...n, perSecond: Math.round(n.commands / seconds), share: total ? n.commands / total : 0 }))
    .sort((a, b) => b.commands - a.commands)
  const mean = total / Math.max(1, masters.length)
  return {
    result,
    seconds,
    masters,
    totalPerSecond: Math.round(total / seconds),
    imbalance: mean ? (masters[0]?.commands ?? 0) / mean : 0,
  }
}

/** One line for a benchmark log: each master's commands/s and share, and the imbalance. */
export function describeLoad (load: PhaseLoad<unknown>): string {
  const shards = load.masters.map((m) => `${m.address} ${m.perSecond}/s (${Math.round(m.share * 100)}%)`).join(', ')
  return `${load.totalPerSecond} commands/s over ${load.masters.length} masters: ${shards}; imbalance ${load.imbalance.toFixed(2)}`
}

function byAddress (nodes: NodeCommands[]): Map<string, number> {
  return new Map(nodes.map((n) => [n.address, n.commands]))
}
