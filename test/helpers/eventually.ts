import { setTimeout as delay } from 'node:timers/promises'

/**
 * Polls `check` until it returns a truthy value, and returns that value; after `timeoutMs` it
 * fails, naming `what` it waited for. An error thrown by `check` fails at once: a check that may
 * fail while something starts says so itself, by catching.
 */
export async function eventually<T> (
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await delay(20)
  }
}
