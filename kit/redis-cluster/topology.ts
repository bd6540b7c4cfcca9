import { parseInfo, waitFor } from './poll.ts'
import type { ClusterNode, Failover, NodeCommands } from './types.ts'

const SLOTS = 16384

type SlotRange = [number, number, [string, number, string, ...unknown[]], ...unknown[]]

/** The cluster as its running nodes describe it: who serves which slot, and in which role. */
export class Topology {
  readonly nodes: readonly ClusterNode[]
  readonly #byPort: Map<number, ClusterNode>

  constructor (nodes: readonly ClusterNode[]) {
    this.nodes = nodes
    this.#byPort = new Map(nodes.map((n) => [n.port, n]))
  }

  running (): ClusterNode[] {
    return this.nodes.filter((n) => n.state === 'running')
  }

  /** Asks the running nodes in turn; the first answer counts. */
  async ask<T> (question: (node: ClusterNode) => Promise<T>): Promise<T> {
    let last: unknown
    for (const node of this.running()) {
      try {
        return await question(node)
      } catch (err) {
        last = err
      }
    }
    throw last ?? new Error('no running node')
  }

  async slotOf (key: string): Promise<number> {
    return Number(await this.ask((n) => n.client.call('cluster', 'keyslot', key)))
  }

  async toSlot (slotOrKey: number | string): Promise<number> {
    return typeof slotOrKey === 'number' ? slotOrKey : this.slotOf(slotOrKey)
  }

  async masterOf (slotOrKey: number | string): Promise<ClusterNode> {
    const slot = await this.toSlot(slotOrKey)
    const owner = await this.ask(async (n) => this.#ownerIn(await n.client.call('cluster', 'slots') as SlotRange[], slot))
    if (!owner) throw new Error(`no node serves slot ${slot}`)
    owner.role = 'master'
    return owner
  }

  /**
   * Until every node reports cluster_state:ok, all slots covered, every node known, `masters`
   * masters, and every replica done with its first sync (before it, a replica can neither
   * acknowledge WAIT nor take over).
   */
  async converge (masters: number, timeoutMs: number): Promise<void> {
    await waitFor('the cluster to converge', async () => {
      for (const node of this.nodes) {
        const info = parseInfo(String(await node.client.call('cluster', 'info')))
        if (info.get('cluster_state') !== 'ok') return false
        if (info.get('cluster_slots_ok') !== String(SLOTS)) return false
        if (info.get('cluster_known_nodes') !== String(this.nodes.length)) return false
        const role = await node.client.call('role') as [string, ...unknown[]]
        node.role = role[0] === 'master' ? 'master' : 'replica'
        if (node.role === 'replica' && role[3] !== 'connected') return false
      }
      return this.nodes.filter((n) => n.role === 'master').length === masters
    }, timeoutMs)
  }

  /** Until every slot is served by a running master again; how long since `since`, and who took over. */
  async waitForFailover (since: number, timeoutMs: number): Promise<Failover> {
    const before = new Map(this.nodes.map((n) => [n, n.role]))
    await waitFor('a failover', async () => {
      const up = new Set(this.running())
      for (const node of up) {
        const info = parseInfo(String(await node.client.call('cluster', 'info')))
        if (info.get('cluster_state') !== 'ok' || info.get('cluster_slots_ok') !== String(SLOTS)) return false
        for (const range of await node.client.call('cluster', 'slots') as SlotRange[]) {
          const owner = this.#byPort.get(range[2][1])
          if (!owner || !up.has(owner)) return false
        }
      }
      return true
    }, timeoutMs)
    const ms = Math.round(performance.now() - since)
    for (const node of this.running()) {
      const role = await node.client.call('role') as [string]
      node.role = role[0] === 'master' ? 'master' : 'replica'
    }
    return { ms, promoted: this.nodes.filter((n) => before.get(n) === 'replica' && n.role === 'master') }
  }

  async moveSlot (slotOrKey: number | string, to: ClusterNode): Promise<void> {
    const slot = await this.toSlot(slotOrKey)
    const from = await this.masterOf(slot)
    if (from === to) return
    await to.client.call('cluster', 'setslot', slot, 'importing', from.id)
    await from.client.call('cluster', 'setslot', slot, 'migrating', to.id)
    for (;;) {
      const keys = await from.client.call('cluster', 'getkeysinslot', slot, 100) as string[]
      if (keys.length === 0) break
      await from.client.call('migrate', to.host, to.port, '', 0, 5_000, 'keys', ...keys)
    }
    // The new owner first, so that no moment exists where neither claims the slot.
    await to.client.call('cluster', 'setslot', slot, 'node', to.id)
    await from.client.call('cluster', 'setslot', slot, 'node', to.id)
    await waitFor(`slot ${slot} to be served by ${to.address} everywhere`, async () => {
      for (const node of this.running()) {
        if (this.#ownerIn(await node.client.call('cluster', 'slots') as SlotRange[], slot) !== to) return false
      }
      return true
    })
  }

  async commandsProcessed (): Promise<NodeCommands[]> {
    return Promise.all(this.running().map(async (node) => {
      const info = parseInfo(String(await node.client.call('info', 'stats', 'replication')))
      node.role = info.get('role') === 'master' ? 'master' : 'replica'
      return { address: node.address, port: node.port, role: node.role, commands: Number(info.get('total_commands_processed')) }
    }))
  }

  #ownerIn (ranges: SlotRange[], slot: number): ClusterNode | undefined {
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)
    return range ? this.#byPort.get(range[2][1]) : undefined
  }
}
