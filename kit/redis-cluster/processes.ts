import { rm } from 'node:fs/promises'
import { Cluster, type ClusterOptions } from 'ioredis'
import { killProcess, procState, startNode, type NodeProcess } from './node-process.ts'
import { HOST, waitFor } from './poll.ts'
import { clusterPorts } from './ports.ts'
import type { ClusterNode } from './types.ts'
import { watchdog, type Watchdog } from './watchdog.ts'

/**
 * The cluster's processes and clients: the redis-server nodes started in `dir`, killed, paused
 * or resumed on request, and every Cluster client handed out; stop() ends them all and removes
 * the directory.
 */
export class ClusterProcesses {
  readonly dir: string
  readonly nodes: ClusterNode[] = []
  /** When a node was last killed or paused (performance.now()). */
  lastDisruption: number | undefined
  readonly #servers: NodeProcess[] = []
  readonly #clients = new Set<Cluster>()
  readonly #ended = new WeakSet<Cluster>()
  readonly #guard: Watchdog
  #stopping: Promise<void> | undefined

  constructor (dir: string) {
    this.dir = dir
    this.#guard = watchdog(dir)
  }

  /** Starts `count` empty cluster-enabled nodes on free ports, each answering PING. */
  async start (count: number, nodeTimeoutMs: number, serverArgs: string[]): Promise<ClusterNode[]> {
    const ports = await clusterPorts(count)
    const started = await Promise.allSettled(ports.map((port) => startNode(this.dir, port, nodeTimeoutMs, serverArgs, this.#guard)))
    for (const s of started) if (s.status === 'fulfilled') this.#servers.push(s.value)
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    for (const { port, proc, client } of this.#servers) {
      const id = String(await client.call('cluster', 'myid'))
      this.nodes.push({ host: HOST, port, address: `${HOST}:${port}`, id, pid: proc.pid!, role: 'master', state: 'running', client })
    }
    return this.nodes
  }

  /** A Cluster client on every node, closed by stop(). */
  createClient (options: ClusterOptions = {}): Cluster {
    const seeds = this.nodes.map(({ host, port }) => ({ host, port }))
    const client = new Cluster(seeds, {
      ...options,
      redisOptions: { connectTimeout: 2_000, disconnectTimeout: 100, ...options.redisOptions },
    })
    client.on('error', () => {})
    client.once('end', () => this.#ended.add(client))
    this.#clients.add(client)
    return client
  }

  async kill (node: ClusterNode): Promise<void> {
    node.client.disconnect()
    await killProcess(this.#processOf(node))
    this.#guard.reaped(node.pid)
    node.state = 'killed'
    this.lastDisruption = performance.now()
  }

  async pause (node: ClusterNode): Promise<void> {
    const { pid } = node
    if (node.state === 'killed') throw new Error(`node ${node.address} was killed: it cannot be paused`)
    this.#processOf(node).kill('SIGSTOP')
    await waitFor(`node ${node.address} to stop`, async () => procState(pid) === 'T')
    node.state = 'paused'
    this.lastDisruption = performance.now()
  }

  async resume (node: ClusterNode): Promise<void> {
    const { pid } = node
    if (node.state === 'killed') throw new Error(`node ${node.address} was killed: it cannot be resumed`)
    this.#processOf(node).kill('SIGCONT')
    await waitFor(`node ${node.address} to run again`, async () => procState(pid) !== 'T')
    node.state = 'running'
  }

  /** Stops every process, closes every client, removes the directory. Safe to call twice. */
  stop (): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop (): Promise<void> {
    for (const c of this.#clients) if (!this.#ended.has(c)) c.disconnect()
    this.#guard.dismiss()
    await Promise.all(this.#servers.map(async ({ proc, client }) => {
      client.disconnect()
      await killProcess(proc)
    }))
    for (const node of this.nodes) node.state = 'killed'
    await rm(this.dir, { recursive: true, force: true })
    // A Cluster client may fall back from 'end' to 'close' as its last node connections go:
    // it counts as closed once it has said 'end'. One that never reached a node may never say
    // it, and holds no connection: stop() does not fail for it.
    await waitFor('every client to close', async () =>
      [...this.#clients].every((c) => this.#ended.has(c)) && this.#servers.every((s) => s.client.status === 'end'), 2_000)
      .catch(() => {})
  }

  #processOf (node: ClusterNode) {
    return this.#servers.find((s) => s.port === node.port)!.proc
  }
}
