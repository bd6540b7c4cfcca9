import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'undici'
import { freePort } from '../test/helpers/services.ts'
import { setTimeout as delay } from 'node:timers/promises'

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
 * never shares an event loop with the load generator. Its output goes to our stderr, prefixed.
 */
export async function startChild (
  name: string,
  entry: string,
  env: Record<string, string>,
  nodeArgs: string[] = []
): Promise<Child> {
  const port = await freePort()
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const prefix = (chunk: Buffer) =>
    process.stderr.write(chunk.toString().replace(/^(?=.)/gm, `[${name}] `))
  child.stdout!.on('data', prefix)
  child.stderr!.on('data', prefix)
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}`
  await waitListening(url, child, exited)
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

/** Polls until the child answers any HTTP request, failing fast when it exits first. */
async function waitListening (url: string, child: ChildProcess, exited: Promise<number | null>) {
  let gone: number | null | undefined
  void exited.then((code) => (gone = code))
  const deadline = Date.now() + 60_000
  for (;;) {
    if (gone !== undefined) throw new Error(`${url}: the process exited with ${gone} before listening`)
    try {
      const res = await request(`${url}/health/live`, { headersTimeout: 1_000 })
      await res.body.dump()
      return
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`${url}: not listening after 60 s`)
      }
      await delay(100)
    }
  }
}

function rssMb (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN)
  return Math.round((kb / 1024) * 10) / 10
}
