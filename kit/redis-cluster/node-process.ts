import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { HOST, waitFor } from './poll.ts'
import { gone, type Watchdog } from './watchdog.ts'

/** redis-server could not bind its port: another process took it after it was picked. */
export class PortTaken extends Error {}

/** One redis-server of the cluster, up, and a connection to it alone. */
export interface NodeProcess {
  port: number
  proc: ChildProcess
  client: Redis
}

interface Spawned {
  proc: ChildProcess
  log: string
  /** What it wrote on stdout and stderr before its log file was open (the last 2,000 characters). */
  early(): string
  spawnError(): Error | undefined
  closed: Promise<unknown>
}

function spawnNode (dir: string, port: number, nodeTimeoutMs: number, serverArgs: string[]): Spawned {
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
  return { proc, log, early: () => early, spawnError: () => spawnError, closed }
}

/** A per-node client fails fast instead of queueing: polls must see a node that is down. */
function nodeClient (port: number): Redis {
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
  return client
}

/** Until the node answers PING; fails with the end of its output when it exits first. */
async function waitUp (node: Spawned, client: Redis, port: number): Promise<void> {
  const outcome = await waitFor(`redis-server on ${port}`, async () => {
    if (gone(node.proc) || node.spawnError()) return 'exited'
    if (client.status === 'wait' || client.status === 'end') await client.connect()
    return (await client.ping()) === 'PONG' && 'up'
  }, 10_000)
  if (outcome === 'up') return
  const spawnError = node.spawnError()
  if (spawnError) throw new Error(`cannot start redis-server: ${spawnError.message}`)
  await node.closed
  const text = node.early() + await readFile(node.log, 'utf8').catch(() => '')
  const message = `redis-server on ${port} exited at start:\n${text.slice(-2000)}`
  throw /Address already in use/.test(text) ? new PortTaken(message) : new Error(message)
}

/** SIGKILLs a process unless it is gone already, and waits until it is. */
export async function killProcess (proc: ChildProcess): Promise<void> {
  if (gone(proc)) return
  const exited = once(proc, 'exit')
  proc.kill('SIGKILL')
  await exited
}

/** Starts one cluster-enabled redis-server on `port` and waits until it answers. */
export async function startNode (dir: string, port: number, nodeTimeoutMs: number, serverArgs: string[], guard: Watchdog): Promise<NodeProcess> {
  const node = spawnNode(dir, port, nodeTimeoutMs, serverArgs)
  const { pid } = node.proc
  if (pid) guard.started(pid)
  const client = nodeClient(port)
  try {
    await waitUp(node, client, port)
  } catch (err) {
    client.disconnect()
    if (pid) {
      await killProcess(node.proc)
      guard.reaped(pid)
    }
    throw err
  }
  return { port, proc: node.proc, client }
}

/** Process state letter from /proc (R, S, T for stopped, ...). */
export function procState (pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
}
