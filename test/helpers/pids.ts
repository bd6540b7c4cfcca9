import { readFileSync } from 'node:fs'

/** Whether a process with this id exists (a zombie counts as gone). */
export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** The process group of a process: what a terminal's Ctrl-C is sent to. */
export function processGroup (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the command name, which is in parentheses and may hold spaces: state, ppid, pgrp.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2])
}

/** SIGKILLs what is still alive: for teardown after a test that failed half-way. */
export function killAll (pids: (number | undefined)[]): void {
  for (const pid of pids) {
    if (pid && alive(pid)) process.kill(pid, 'SIGKILL')
  }
}
