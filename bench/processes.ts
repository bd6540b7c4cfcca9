import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { pinned } from './pinning.ts'

export interface Child {
  readonly name: string
  readonly pid: number
  readonly url: string
  /** Resident set size of the child right now, in MiB (from /proc). */
  rssMb(): number
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<number | null>
}

/**
 * Runs a TypeScript entry point in its own Node process (Node runs TypeScript as it is), so the server under test
 * never shares an event loop with the load generator. Its output goes to our stderr, prefixed. It
 * listens on a port the kernel picks and says where in a message (`{ listening: url }`). With
 * `cpuList` it runs on those cores only (`taskset -c`).
 */
export async function startChild (
  name: string,
  entry: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  cpuList?: string
): Promise<Child> {
  // taskset execs node: the child's pid is node's.
  const [command, ...args] = pinned(cpuList, [process.execPath, ...nodeArgs, entry])
  const child = spawn(command!, args, {
    env: { ...process.env, ...env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  const prefix = (chunk: Buffer) =>
    process.stderr.write(chunk.toString().replace(/^(?=.)/gm, `[${name}] `))
  child.stdout!.on('data', prefix)
  child.stderr!.on('data', prefix)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await listening(name, child)
  return {
    name,
    pid: child.pid!,
    url,
    rssMb: () => rssMb(child.pid!),
    async stop (graceMs = 15_000) {
      if (child.exitCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      const code = await exited
      clearTimeout(timer)
      return code
    },
  }
}

/** The URL of the child's first message; fails when it exits first, or says nothing for 60 s. */
function listening (name: string, child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${name}: not listening after 60 s`))
    }, 60_000)
    child.once('message', (message: { listening: string }) => {
      clearTimeout(timer)
      // Kept open but unreferenced: a child that watches it exits when this process is gone.
      child.channel?.unref()
      resolve(message.listening)
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${name} exited with ${code} before listening`))
    })
  })
}

const cleanups = new Set<() => Promise<unknown>>()

/**
 * Runs `fn` when this process is interrupted (SIGINT, SIGTERM) before `release()` is called, so a
 * benchmark stopped half-way still stops what it started and drops what it created.
 */
export function onInterrupt (fn: () => Promise<unknown>): () => void {
  if (cleanups.size === 0) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, interrupted)
  }
  cleanups.add(fn)
  return () => { cleanups.delete(fn) }
}

async function interrupted (signal: NodeJS.Signals) {
  process.stderr.write(`bench: ${signal}, cleaning up\n`)
  // Last registered first: what a phase started goes before the servers it used.
  for (const fn of [...cleanups].reverse()) await fn().catch(() => {})
  process.exit(130)
}

/** 0 once the process is gone (a sampler may outlive it by one tick). */
function rssMb (pid: number): number {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return 0
  }
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? 0)
  return Math.round((kb / 1024) * 10) / 10
}
