import { spawn, type SpawnOptions } from 'node:child_process'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'

export interface OwnedProcess {
  pid: number
  /** Resolves when the process is gone, with its exit code (null when a signal ended it). */
  exited: Promise<number | null>
  /** Asks the process to stop with its own graceful signal and waits until it is gone. */
  stop(): Promise<void>
}

const running = new Map<number, NodeJS.Signals>()
let exitHookInstalled = false

/**
 * Starts a server process this service owns. It gets a session (and so a process group) of its
 * own: a terminal's Ctrl-C reaches the whole foreground group, and the service must stay able
 * to drain into Postgres and Redis after it, so only the service decides when they stop. The
 * price is that nothing stops them with the service any more: if the service exits without
 * stopping them (an uncaught error, process.exit), they are sent their stop signal on the way out.
 */
export async function spawnOwned (
  file: string,
  args: string[],
  stopSignal: NodeJS.Signals,
  options: SpawnOptions = {}
): Promise<OwnedProcess> {
  const child = spawn(file, args, { ...options, detached: true })
  await once(child, 'spawn')
  // Past this point a failed kill() is a process already gone: nothing to report.
  child.on('error', () => {})
  const pid = child.pid!
  running.set(pid, stopSignal)
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', () => {
      for (const [p, signal] of running) {
        try {
          process.kill(p, signal)
        } catch {
          // Already gone.
        }
      }
    })
  }
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(pid)
      resolve(code)
    })
  })
  return {
    pid,
    exited,
    async stop () {
      if (running.has(pid)) child.kill(stopSignal)
      await exited
    },
  }
}

/**
 * Polls `ready` until it holds. If the process exits first, or `timeoutMs` passes, fails with the
 * end of its log: what a newcomer needs to see, on one line.
 */
export async function waitReady (
  proc: OwnedProcess,
  ready: () => Promise<boolean>,
  what: string,
  logFile: string,
  timeoutMs = 30_000
): Promise<void> {
  let exitCode: number | null | undefined
  void proc.exited.then((code) => (exitCode = code))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await ready().catch(() => false)) return
    if (exitCode !== undefined) throw new Error(`${what} exited (code ${exitCode}) before it was ready: ${await lastLines(logFile)}`)
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs / 1000} s: ${await lastLines(logFile)}`)
    await delay(100)
  }
}

/** The last lines of a log file, joined on one line (empty when there is none). */
export async function lastLines (file: string, n = 3): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.trim().split('\n').slice(-n).map((l) => l.trim()).join(' | ') || `(nothing in ${file})`
}
