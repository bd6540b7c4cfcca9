import { constants } from 'node:os'

/** What ends the service: a supervisor's SIGTERM, a terminal's Ctrl-C, a terminal closing. */
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

/**
 * Handles every shutdown signal from now on, each time it arrives. `exitCode` is the one a death
 * by that signal reports (128 + its number), for a process that must end at once: one killed by a
 * signal runs no exit handler, and so would leave the Postgres and redis-server it started running.
 */
export function onShutdownSignals (handler: (signal: NodeJS.Signals, exitCode: number) => void): void {
  for (const signal of SHUTDOWN_SIGNALS) process.on(signal, () => handler(signal, 128 + constants.signals[signal]))
}
