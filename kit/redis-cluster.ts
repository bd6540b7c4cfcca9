import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Cluster, Redis, type ClusterOptions } from 'ioredis'

/**
 * A real Redis Cluster on the loopback interface: redis-server processes in a temporary
 * directory, formed by `redis-cli --cluster create`, with the operations failover and load
 * tests need. The benchmark and the tests both start clusters through this module;
 * test/helpers/redis-cluster.ts ties a cluster's life to a tap test.
 */

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

const HOST = '127.0.0.1'
const SLOTS = 16384
/** A node's cluster bus listens on its port + 10000. */
const BUS_OFFSET = 10_000
const run = promisify(execFile)

/** Polls `check` until it returns a truthy value; throws after `timeoutMs`, with the last error. */
async function waitFor<T> (what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    }
    await delay(20)
  }
}

function listen (port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(undefined))
    server.listen(port, HOST, () => resolve(server))
  })
}

/**
 * `count` ports picked by the kernel whose cluster bus port (+10000) is free as well. Every
 * candidate stays bound until all are picked, so no two nodes get the same port or one node's
 * port is another's bus port.
 */
export async function clusterPorts (count: number): Promise<number[]> {
  const held: Server[] = []
  const ports: number[] = []
  try {
    for (let attempt = 0; ports.length < count; attempt++) {
      if (attempt > 1000) throw new Error(`found no ${count} free port pairs (port, port + ${BUS_OFFSET})`)
      const server = await listen(0)
      if (!server) continue
      held.push(server)
      const port = (server.address() as { port: number }).port
      if (port + BUS_OFFSET > 65535) continue
      const bus = await listen(port + BUS_OFFSET)
      if (!bus) continue
      held.push(bus)
      ports.push(port)
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))))
  }
  return ports
}

function parseInfo (text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1))
  }
  return fields
}

function gone (proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null
}

/** Process state letter from /proc (R, S, T for stopped, ...). */
function procState (pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
}

class PortTaken extends Error {}

interface Started {
  port: number
  proc: ChildProcess
  client: Redis
}

async function startServer (dir: string, port: number, nodeTimeoutMs: number, serverArgs: string[], guard: Watchdog): Promise<Started> {
  const log = join(dir, `redis-${port}.log`)
  const proc = spawn('redis-server', [
    '--port', String(port),
    '--bind', HOST,
    '--cluster-enabled', 'yes',
    '--cluster-config-file', join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', String(nodeTimeoutMs),
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--logfile', log,
    // Replicas sync at once instead of waiting 5 s for more replicas to share a diskless transfer.
    '--repl-diskless-sync-delay', '0',
    ...serverArgs,
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  if (proc.pid) guard.started(proc.pid)
  // Until the log file is open, a bad argument is reported on stdout or stderr only.
  let early = ''
  const keep = (chunk: Buffer) => { early = (early + chunk).slice(-2000) }
  proc.stdout!.on('data', keep)
  proc.stderr!.on('data', keep)
  let spawnError: Error | undefined
  const closed = new Promise((resolve) => {
    proc.once('close', resolve)
    proc.once('error', (err) => {
      spawnError = err
      resolve(err)
    })
  })
  // A per-node client fails fast instead of queueing: polls must see a node that is down.
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
    // A safety net: a node that hangs fails a poll instead of stalling it for ever.
    commandTimeout: 5_000,
    // The socket of a killed node may never report closing: stop() must not wait 2 s for it.
    disconnectTimeout: 100,
  })
  client.on('error', () => {})
  try {
    const outcome = await waitFor(`redis-server on ${port}`, async () => {
      if (gone(proc) || spawnError) return 'exited'
      if (client.status === 'wait' || client.status === 'end') await client.connect()
      return (await client.ping()) === 'PONG' && 'up'
    }, 10_000)
    if (outcome === 'exited') {
      if (spawnError) throw new Error(`cannot start redis-server: ${spawnError.message}`)
      await closed
      const text = early + await readFile(log, 'utf8').catch(() => '')
      const message = `redis-server on ${port} exited at start:\n${text.slice(-2000)}`
      throw /Address already in use/.test(text) ? new PortTaken(message) : new Error(message)
    }
  } catch (err) {
    client.disconnect()
    if (proc.pid) {
      if (!gone(proc)) {
        const exited = once(proc, 'exit')
        proc.kill('SIGKILL')
        await exited
      }
      guard.reaped(proc.pid)
    }
    throw err
  }
  return { port, proc, client }
}

/**
 * Kills the servers and removes `dir` once this process is gone, however it goes (a test
 * runner's SIGKILL on timeout included): a shell reading a pipe only this process writes to,
 * told `+pid` for each server started and `-pid` for each one already reaped.
 */
const WATCHDOG = `
pids=
while read -r line; do
  case $line in
    +*) pids="$pids \${line#+}" ;;
    -*) keep=; for p in $pids; do [ "$p" = "\${line#-}" ] || keep="$keep $p"; done; pids=$keep ;;
  esac
done
[ -n "$pids" ] && kill -9 $pids 2>/dev/null
rm -rf -- "$0"
`

interface Watchdog {
  started(pid: number): void
  reaped(pid: number): void
  /** Dismissed once stop() cleans up itself. */
  dismiss(): void
}

function watchdog (dir: string): Watchdog {
  const child = spawn('sh', ['-c', WATCHDOG, dir], { stdio: ['pipe', 'ignore', 'ignore'] })
  const stdin = child.stdin!
  stdin.on('error', () => {})
  // It must not keep this process alive: it is there for when this process is gone.
  child.unref()
  ;(stdin as unknown as { unref(): void }).unref()
  return {
    started: (pid) => { stdin.write(`+${pid}\n`) },
    reaped: (pid) => { stdin.write(`-${pid}\n`) },
    dismiss: () => { if (!gone(child)) child.kill('SIGKILL') },
  }
}

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
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000
  if (masters < 3) throw new Error('a Redis Cluster needs at least 3 masters')
  const total = masters * (1 + replicasPerMaster)

  const t0 = performance.now()
  const dir = await mkdtemp(join(tmpdir(), 'flashsale-cluster-'))
  const servers: Started[] = []
  const clients = new Set<Cluster>()
  const ended = new WeakSet<Cluster>()
  const guard = watchdog(dir)
  const nodes: ClusterNode[] = []
  const byPort = new Map<number, ClusterNode>()
  let lastDisruption: number | undefined

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      for (const c of clients) if (!ended.has(c)) c.disconnect()
      guard.dismiss()
      await Promise.all(servers.map(async ({ proc, client }) => {
        client.disconnect()
        if (gone(proc)) return
        const exited = once(proc, 'exit')
        proc.kill('SIGKILL')
        await exited
      }))
      for (const node of nodes) node.state = 'killed'
      await rm(dir, { recursive: true, force: true })
      // A Cluster client may fall back from 'end' to 'close' as its last node connections go:
      // it counts as closed once it has said 'end'. One that never reached a node may never say
      // it, and holds no connection: stop() does not fail for it.
      await waitFor('every client to close', async () =>
        [...clients].every((c) => ended.has(c)) && servers.every((s) => s.client.status === 'end'), 2_000)
        .catch(() => {})
    })()
    return stopping
  }

  try {
    const ports = await clusterPorts(total)
    const started = await Promise.allSettled(ports.map((port) => startServer(dir, port, nodeTimeoutMs, options.serverArgs ?? [], guard)))
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value)
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    for (const { port, proc, client } of servers) {
      const node: ClusterNode = {
        host: HOST,
        port,
        address: `${HOST}:${port}`,
        id: String(await client.call('cluster', 'myid')),
        pid: proc.pid!,
        role: 'master',
        state: 'running',
        client,
      }
      nodes.push(node)
      byPort.set(port, node)
    }
    const t1 = performance.now()

    const addresses = nodes.map((n) => n.address)
    await (options.create ?? redisCliCreate(replicasPerMaster))(addresses)
    const t2 = performance.now()

    await waitFor('the cluster to converge', async () => {
      for (const node of nodes) {
        const info = parseInfo(String(await node.client.call('cluster', 'info')))
        if (info.get('cluster_state') !== 'ok') return false
        if (info.get('cluster_slots_ok') !== String(SLOTS)) return false
        if (info.get('cluster_known_nodes') !== String(total)) return false
        const role = await node.client.call('role') as [string, ...unknown[]]
        node.role = role[0] === 'master' ? 'master' : 'replica'
        // A replica that has not finished its first sync cannot acknowledge WAIT nor take over.
        if (node.role === 'replica' && role[3] !== 'connected') return false
      }
      return nodes.filter((n) => n.role === 'master').length === masters
    }, readyTimeoutMs)
    const t3 = performance.now()

    const seedList = nodes.map(({ host, port }) => ({ host, port }))
    const createClient = (clientOptions: ClusterOptions = {}) => {
      const c = new Cluster(seedList, {
        ...clientOptions,
        redisOptions: { connectTimeout: 2_000, disconnectTimeout: 100, ...clientOptions.redisOptions },
      })
      c.on('error', () => {})
      c.once('end', () => ended.add(c))
      clients.add(c)
      return c
    }
    const client = createClient(options.clientOptions)
    await client.ping()
    const t4 = performance.now()

    const running = () => nodes.filter((n) => n.state === 'running')

    /** Asks the running nodes in turn; the first answer counts. */
    async function ask<T> (question: (node: ClusterNode) => Promise<T>): Promise<T> {
      let last: unknown
      for (const node of running()) {
        try {
          return await question(node)
        } catch (err) {
          last = err
        }
      }
      throw last ?? new Error('no running node')
    }

    const slotOf = async (key: string) => Number(await ask((n) => n.client.call('cluster', 'keyslot', key)))
    const toSlot = async (slotOrKey: number | string) => typeof slotOrKey === 'number' ? slotOrKey : slotOf(slotOrKey)

    type SlotRange = [number, number, [string, number, string, ...unknown[]], ...unknown[]]
    const ownerIn = (ranges: SlotRange[], slot: number) => {
      const range = ranges.find(([from, to]) => slot >= from && slot <= to)
      return range ? byPort.get(range[2][1]) : undefined
    }

    const masterOf = async (slotOrKey: number | string) => {
      const slot = await toSlot(slotOrKey)
      const owner = await ask(async (n) => ownerIn(await n.client.call('cluster', 'slots') as SlotRange[], slot))
      if (!owner) throw new Error(`no node serves slot ${slot}`)
      owner.role = 'master'
      return owner
    }

    const processOf = (node: ClusterNode) => servers.find((s) => s.port === node.port)!.proc

    const kill = async (node: ClusterNode) => {
      const proc = processOf(node)
      node.client.disconnect()
      if (!gone(proc)) {
        const exited = once(proc, 'exit')
        proc.kill('SIGKILL')
        await exited
      }
      guard.reaped(node.pid)
      node.state = 'killed'
      lastDisruption = performance.now()
    }

    const cluster: LocalCluster = {
      seeds: addresses.join(','),
      nodes,
      client,
      dir,
      startup: {
        serversMs: Math.round(t1 - t0),
        createMs: Math.round(t2 - t1),
        convergeMs: Math.round(t3 - t2),
        totalMs: Math.round(t4 - t0),
      },
      createClient,
      masters: () => nodes.filter((n) => n.role === 'master' && n.state !== 'killed'),
      replicas: () => nodes.filter((n) => n.role === 'replica' && n.state !== 'killed'),
      slotOf,
      masterOf,
      kill,
      async killMaster (slotOrKey) {
        const master = await masterOf(slotOrKey)
        await kill(master)
        return master
      },
      async waitForFailover (timeoutMs = 30_000) {
        const since = lastDisruption ?? performance.now()
        const before = new Map(nodes.map((n) => [n, n.role]))
        await waitFor('a failover', async () => {
          const up = new Set(running())
          for (const node of up) {
            const info = parseInfo(String(await node.client.call('cluster', 'info')))
            if (info.get('cluster_state') !== 'ok' || info.get('cluster_slots_ok') !== String(SLOTS)) return false
            for (const range of await node.client.call('cluster', 'slots') as SlotRange[]) {
              const owner = byPort.get(range[2][1])
              if (!owner || !up.has(owner)) return false
            }
          }
          return true
        }, timeoutMs)
        const ms = Math.round(performance.now() - since)
        for (const node of running()) {
          const role = await node.client.call('role') as [string]
          node.role = role[0] === 'master' ? 'master' : 'replica'
        }
        return { ms, promoted: nodes.filter((n) => before.get(n) === 'replica' && n.role === 'master') }
      },
      async pause (node) {
        const { pid } = node
        if (node.state === 'killed') throw new Error(`node ${node.address} was killed: it cannot be paused`)
        processOf(node).kill('SIGSTOP')
        await waitFor(`node ${node.address} to stop`, async () => procState(pid) === 'T')
        node.state = 'paused'
        lastDisruption = performance.now()
      },
      async resume (node) {
        const { pid } = node
        if (node.state === 'killed') throw new Error(`node ${node.address} was killed: it cannot be resumed`)
        processOf(node).kill('SIGCONT')
        await waitFor(`node ${node.address} to run again`, async () => procState(pid) !== 'T')
        node.state = 'running'
      },
      async moveSlot (slotOrKey, to) {
        const slot = await toSlot(slotOrKey)
        const from = await masterOf(slot)
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
          for (const node of running()) {
            if (ownerIn(await node.client.call('cluster', 'slots') as SlotRange[], slot) !== to) return false
          }
          return true
        })
      },
      async commandsProcessed () {
        return Promise.all(running().map(async (node) => {
          const info = parseInfo(String(await node.client.call('info', 'stats', 'replication')))
          node.role = info.get('role') === 'master' ? 'master' : 'replica'
          return { address: node.address, port: node.port, role: node.role, commands: Number(info.get('total_commands_processed')) }
        }))
      },
      stop,
    }
    return cluster
  } catch (err) {
    await stop()
    throw err
  }
}
