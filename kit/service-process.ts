import { spawn, type ChildProcess } from 'node:child_process'
import type { Test } from 'tap'
import { ROOT } from '../src/paths.ts'

export const ADMIN = 'fault-test-admin-token-0123456789'

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ServiceProcess {
  pid: number
  /** Output of the process so far (stdout and stderr), for assertions and failure messages. */
  output(): string
  exited: Promise<Exit>
  /** Sends a signal, unless the process is gone. */
  signal(signal: NodeJS.Signals): void
  /** Sends a signal and resolves once the process is gone. */
  stop(signal: NodeJS.Signals): Promise<Exit>
  /** The first match of `pattern` in the output; fails when the process exits before it shows. */
  shows(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  /** Closes the reading end of its stdout, as a closed terminal leaves it: every write fails from then on. */
  closeStdout(): void
}

/**
 * Runs the service, or one of its commands (`npm start`, `npm run migrate`), as a process of its
 * own: in the project's directory (or `cwd`), with the given environment on top of PATH, HOME and
 * what every test run shares (info logs, no schedule, the operator token, port 0 on the
 * loopback). Stopped at teardown if still running. `detached` gives it a process group of its
 * own, as a terminal gives its foreground job.
 */
export function spawnService (
  t: Test,
  command: string,
  args: string[],
  env: Record<string, string>,
  { detached = false, cwd = ROOT } = {}
): ServiceProcess {
  const child = spawn(command, args, {
    cwd,
    detached,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      LOG_LEVEL: 'info',
      SALE_SCHEDULE: 'off',
      ADMIN_TOKEN: ADMIN,
      HOST: '127.0.0.1',
      PORT: '0',
      // A busy machine (the CI's pass beside a CPU hog) stalls a starting process past the default
      // bound: these tests are about faults, not shedding (test/routes/health.test.ts has that).
      LOAD_SHED_EVENT_LOOP_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const watched = watch(child)
  const { exited } = watched
  const gone = () => watched.gone
  // A process still running at the end is asked to stop as an operator would: a process ended
  // by SIGKILL writes no coverage, and what it ran would count as never run. One that does not
  // stop in time (hung, or a test that failed half-way) is killed.
  t.teardown(async () => {
    if (gone()) return
    child.kill('SIGCONT')
    child.kill('SIGTERM')
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(kill)
  })
  return {
    pid: child.pid!,
    output: () => watched.out,
    exited,
    signal: (s) => { if (!gone()) child.kill(s) },
    closeStdout: () => { child.stdout!.destroy() },
    async stop (s) {
      if (!gone()) child.kill(s)
      return exited
    },
    shows: (pattern, timeoutMs = 60_000) => shows(watched, command, pattern, timeoutMs),
  }
}

interface Watched {
  out: string
  gone: boolean
  exited: Promise<Exit>
  /** Called on every output and at exit. */
  watchers: Set<() => void>
}

/** A child's output so far and whether it is gone, with watchers told of every change. */
function watch (child: ChildProcess): Watched {
  const watchers = new Set<() => void>()
  const changed = () => { for (const w of watchers) w() }
  const watched: Watched = {
    out: '',
    gone: false,
    watchers,
    exited: new Promise<Exit>((resolve) => child.once('exit', (code, signal) => {
      watched.gone = true
      resolve({ code, signal })
      changed()
    })),
  }
  const append = (chunk: Buffer) => {
    watched.out += chunk
    changed()
  }
  child.stdout!.on('data', append)
  child.stderr!.on('data', append)
  return watched
}

/** The first match of `pattern` in the output; fails when the process exits before it shows. */
function shows (watched: Watched, command: string, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => settle(new Error(`${command} did not show ${pattern} within ${timeoutMs} ms:\n${watched.out}`)), timeoutMs)
    const settle = (result: RegExpExecArray | Error) => {
      clearTimeout(timer)
      watched.watchers.delete(check)
      if (result instanceof Error) reject(result)
      else resolve(result)
    }
    const check = () => {
      const found = pattern.exec(watched.out)
      if (found) settle(found)
      else if (watched.gone) settle(new Error(`${command} exited before showing ${pattern}:\n${watched.out}`))
    }
    watched.watchers.add(check)
    check()
  })
}

/** What fastify logs once the server accepts connections, with the port it got. */
export const LISTENING = /"pid":(\d+)[^\n]*"msg":"Server listening at http:\/\/127\.0\.0\.1:(\d+)"/

export interface Service extends ServiceProcess {
  port: number
  base: string
}

/**
 * The service as a real process (`fault-server.ts`: the server of `npm start` on a database the
 * test migrated), once it listens.
 */
export async function startService (t: Test, env: Record<string, string>): Promise<Service> {
  const proc = spawnService(t, process.execPath, ['test/helpers/fault-server.ts'], env)
  const port = Number((await proc.shows(LISTENING))[2])
  return { ...proc, port, base: `http://127.0.0.1:${port}` }
}
