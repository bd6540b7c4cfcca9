import { spawn, type ChildProcess } from 'node:child_process'

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

export interface Watchdog {
  started(pid: number): void
  reaped(pid: number): void
  /** Dismissed once stop() cleans up itself. */
  dismiss(): void
}

export function gone (proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null
}

export function watchdog (dir: string): Watchdog {
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
