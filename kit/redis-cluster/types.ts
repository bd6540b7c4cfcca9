import type { Cluster, ClusterOptions, Redis } from 'ioredis'

export type Role = 'master' | 'replica'
export type NodeState = 'running' | 'paused' | 'killed'

export interface ClusterNode {
  readonly host: string
  readonly port: number
  /** `host:port`, as in REDIS_CLUSTER_NODES and in MOVED replies. */
  readonly address: string
  /** The node's cluster id (CLUSTER MYID). */
  readonly id: string
  readonly pid: number
  /** As last read from the node: a failover turns a replica into a master. */
  role: Role
  state: NodeState
  /** A connection to this node alone (never redirected), for per-node commands. */
  readonly client: Redis
}

export interface ClusterStartOptions {
  masters?: number
  replicasPerMaster?: number
  /**
   * cluster-node-timeout: how long a node may be unreachable before it is failed over. Short,
   * so failover tests take seconds; not so short that a busy machine causes spurious failovers.
   */
  nodeTimeoutMs?: number
  /** Extra redis-server arguments for every node. */
  serverArgs?: string[]
  /**
   * Forms the started, still empty nodes (`host:port` each) into a cluster. By default
   * `redis-cli --cluster create <addresses> --cluster-replicas <replicasPerMaster> --cluster-yes`;
   * another way to form it (a deployment's own script) is then held to the same readiness.
   */
  create?: (addresses: string[]) => Promise<void>
  /** Options of the cluster's own client (`client`), on top of the defaults here. */
  clientOptions?: ClusterOptions
  readyTimeoutMs?: number
}

export interface StartupTimes {
  /** Picking ports and starting every redis-server until it answers PING. */
  serversMs: number
  /** `redis-cli --cluster create` (or the `create` option). */
  createMs: number
  /** Until every node reports cluster_state:ok, all slots covered and every replica in sync. */
  convergeMs: number
  totalMs: number
}

export interface NodeCommands {
  address: string
  port: number
  role: Role
  /** total_commands_processed from INFO stats (a replica's count includes what it replicates). */
  commands: number
}

export interface Failover {
  /** From the last kill or pause (or the call, if none) until the cluster serves every slot again. */
  ms: number
  /** Nodes that were replicas before and are masters now. */
  promoted: ClusterNode[]
}

export interface LocalCluster {
  /** Every node as `host:port,...`: the format of REDIS_CLUSTER_NODES. */
  readonly seeds: string
  readonly nodes: readonly ClusterNode[]
  /** A Cluster client of the cluster's own, ready, closed by stop(). */
  readonly client: Cluster
  readonly dir: string
  readonly startup: StartupTimes
  /** Another Cluster client on the same seeds, closed by stop(). */
  createClient(options?: ClusterOptions): Cluster
  masters(): ClusterNode[]
  replicas(): ClusterNode[]
  slotOf(key: string): Promise<number>
  /** The node serving a slot (or a key's slot), as the running nodes see it now. */
  masterOf(slotOrKey: number | string): Promise<ClusterNode>
  /** SIGKILLs the master serving a slot (or a key's slot) and waits until it is gone. */
  killMaster(slotOrKey: number | string): Promise<ClusterNode>
  /** SIGKILLs a node and waits until it is gone. */
  kill(node: ClusterNode): Promise<void>
  /**
   * Polls until every slot is served by a running master and every running node says
   * cluster_state:ok, then returns how long that took since the last kill or pause.
   */
  waitForFailover(timeoutMs?: number): Promise<Failover>
  /** SIGSTOP: the node keeps its connections but answers nothing, nor gossips (a hung node). */
  pause(node: ClusterNode): Promise<void>
  /** SIGCONT. */
  resume(node: ClusterNode): Promise<void>
  /** Moves a slot, with its keys, to another master, and waits until every running node agrees. */
  moveSlot(slotOrKey: number | string, to: ClusterNode): Promise<void>
  /** total_commands_processed of every running node (paused and killed nodes are left out). */
  commandsProcessed(): Promise<NodeCommands[]>
  /** Stops every process, closes every client, removes the directory. Safe to call twice. */
  stop(): Promise<void>
}
