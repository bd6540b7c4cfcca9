import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setTimeout as delay } from 'node:timers/promises'
import { ExecutionError, ResourceLockedError, type Lock, type Redlock } from '@sesamecare-oss/redlock'
import { isDeadline, UnavailableError } from '../errors.ts'
import type { Count } from './meters.ts'

export const LOCK_TYPES = ['purchase', 'settle'] as const
export type LockType = (typeof LOCK_TYPES)[number]
export const LOCK_RESULTS = ['acquired', 'busy', 'error'] as const
export type LockResult = (typeof LOCK_RESULTS)[number]

/** Another holder has the lock and kept it through every retry. */
export class LockBusyError extends Error {
  constructor () {
    super('lock busy')
    this.name = 'LockBusyError'
  }
}

export interface Observe {
  observe(value: number): void
}

/** Every acquisition, by lock type: its result, how long it waited, how long it held, and losses. */
export interface LockMeters {
  acquire: Readonly<Record<LockType, Readonly<Record<LockResult, Count>>>>
  wait: Readonly<Record<LockType, Observe>>
  hold: Readonly<Record<LockType, Observe>>
  lost: Readonly<Record<LockType, Count>>
}

/** The holder's view of a lock it took. */
export interface LockLease {
  /**
   * Whether the lock is still safely held: not lost (an extension failed) and, for a lock that
   * is not extended, with at least a fifth of its TTL left. A routine checks it before any commit.
   */
  held(): boolean
}

export interface LockSettings {
  ttlMs: number
  retryCount: number
  retryDelayMs: number
  /**
   * The locks live on the data's own Redis (one server: REDLOCK_REDIS_URLS is REDIS_URL alone), so
   * a script on the data may take or drop a lock in the same round trip (lua/purchase-lock-*.lua).
   */
  colocated: boolean
}

/** The lock a purchase commits under. */
export interface Locks {
  readonly settings: LockSettings
  readonly meters: LockMeters
  /**
   * Runs `routine` while holding the lock on `resource`. A purchase's lock is not extended: its
   * request is bounded (REQUEST_TIMEOUT_MS) far below LOCK_TTL_MS, and it checks `lease.held()`
   * before it commits. A settle's lock is extended while the routine runs. Throws LockBusyError
   * when the lock stays taken through the bounded retries, UnavailableError when no quorum of
   * lock nodes answers.
   */
  withLock<T>(type: LockType, resource: string, routine: (lease: LockLease) => Promise<T>): Promise<T>
  /** A lock a script takes on the data's own Redis (settings.colocated): see withScriptLock. */
  withScriptLock<A, T>(type: LockType, resource: string, take: ScriptLockTake<A>, routine: ScriptLockRoutine<A, T>,
    unlocked: (answer: A) => Promise<T>): Promise<T>
}

/** Locks whose expiry alone bounds them: nothing extends them. */
const EXTENDED: Readonly<Record<LockType, boolean>> = { purchase: false, settle: true }

/**
 * Busy means a quorum of nodes said the resource is locked. Nodes that failed do not count:
 * with most nodes down the lock is unavailable, even though the nodes still up may hold the
 * partial lock of an earlier try.
 */
async function isBusy (err: unknown): Promise<boolean> {
  if (!(err instanceof ExecutionError) || err.attempts.length === 0) return false
  const last = await err.attempts[err.attempts.length - 1]!
  const locked = [...last.votesAgainst.values()].filter((e) => e instanceof ResourceLockedError).length
  return locked >= last.quorumSize
}

interface Log {
  warn(obj: object, msg: string): void
  debug(obj: object, msg: string): void
}

/**
 * Keeps a held lock alive until stopped, extending it a fifth of its TTL before it expires.
 * When an extension fails for good, the lease is lost and `onLost` is told.
 */
function extender (first: Lock, ttlMs: number, onLost: (err: unknown) => void) {
  let lock = first
  let lost = false
  let timer: NodeJS.Timeout | undefined
  let extension: Promise<void> | undefined
  const threshold = Math.floor(ttlMs / 5)
  const schedule = () => {
    timer = setTimeout(() => (extension = extend()), Math.max(lock.expiration - Date.now() - threshold, 0))
  }
  const extend = async (): Promise<void> => {
    try {
      lock = await lock.extend(ttlMs)
      schedule()
    } catch (err) {
      if (lock.expiration > Date.now() + 50) return extend()
      lost = true
      onLost(err)
    }
  }
  schedule()
  return {
    lease: { held: () => !lost } satisfies LockLease,
    lock: () => lock,
    lost: () => lost,
    async stop () {
      clearTimeout(timer)
      await extension
    },
  }
}

/**
 * Locks over a Redlock instance, every acquisition measured: result, wait, hold, and locks lost.
 * Not Redlock's using(): it awaits the release before returning, one more round trip on every
 * purchase's answer, and it says neither how long the acquisition took nor whether it was busy.
 */
export function redlockLocks (redlock: Redlock, settings: LockSettings, meters: LockMeters, log: Log): Locks {
  const margin = Math.floor(settings.ttlMs / 5)

  async function acquire (type: LockType, resource: string): Promise<Lock> {
    const start = performance.now()
    try {
      const lock = await redlock.acquire([resource], settings.ttlMs)
      meters.acquire[type].acquired.inc()
      meters.wait[type].observe((performance.now() - start) / 1000)
      return lock
    } catch (err) {
      const busy = await isBusy(err)
      meters.acquire[type][busy ? 'busy' : 'error'].inc()
      meters.wait[type].observe((performance.now() - start) / 1000)
      if (busy) throw new LockBusyError()
      throw new UnavailableError('redlock', { cause: err })
    }
  }

  async function withLock<T> (type: LockType, resource: string, routine: (lease: LockLease) => Promise<T>): Promise<T> {
    const first = await acquire(type, resource)
    const acquired = performance.now()
    const kept = EXTENDED[type]
      ? extender(first, settings.ttlMs, (err) => {
        meters.lost[type].inc()
        log.warn({ err, lock_type: type }, 'lock lost: could not extend it while held')
      })
      : undefined
    try {
      return await routine(kept?.lease ?? { held: () => Date.now() < first.expiration - margin })
    } finally {
      await kept?.stop()
      meters.hold[type].observe((performance.now() - acquired) / 1000)
      const lock = kept?.lock() ?? first
      if (!kept?.lost() && Date.now() > lock.expiration) meters.lost[type].inc()
      // Released off the request's path; a failed release is harmless: the lock expires on its own.
      lock.release().catch((err) => log.debug({ err }, 'lock release failed'))
    }
  }

  const locks: Locks = {
    settings,
    meters,
    withLock,
    withScriptLock: (type, resource, take, routine, unlocked) => withScriptLock(locks, type, resource, take, routine, unlocked),
  }
  return locks
}

/** A lock taken by a script in the data's own Redis: Redlock's key and value format, and its TTL. */
export interface ScriptLock {
  key: string
  value: string
  ttlMs: number
}

/** How a script takes a lock: runs it (`retry` is 0 on the first try), and reads its answer. */
export interface ScriptLockTake<A> {
  attempt(lock: ScriptLock, retry: number): Promise<A>
  busy(answer: A): boolean
  holds(answer: A): boolean
  release(lock: ScriptLock): Promise<unknown>
  /**
   * After a try given up on (a command timeout): that script may still run once Redis answers,
   * and take the lock. Undoes what it would have done; `release` when not given.
   */
  abandon?(lock: ScriptLock): Promise<unknown>
}

export type ScriptLockRoutine<A, T> = (answer: A, held: { lease: LockLease; lock: ScriptLock; released(): void }) => Promise<T>

/**
 * A lock taken inside a script on the data's own Redis (settings.colocated), with Redlock's
 * retries and the same meters as withLock. `attempt` runs the script, which takes the lock or
 * answers busy; whatever it answers without holding the lock (busy aside) is returned as is.
 * When it holds the lock, `routine` runs with its lease and must release it (its settle script
 * does); `release` is called only if the routine did not say it released it.
 */
export async function withScriptLock<A, T> (
  locks: Locks,
  type: LockType,
  resource: string,
  take: ScriptLockTake<A>,
  routine: ScriptLockRoutine<A, T>,
  unlocked: (answer: A) => Promise<T>
): Promise<T> {
  const { settings, meters } = locks
  const lock: ScriptLock = { key: resource, value: randomBytes(16).toString('hex'), ttlMs: settings.ttlMs }
  const start = performance.now()
  let answer: A
  let tried: number
  for (let retries = 0; ; retries++) {
    tried = Date.now()
    try {
      answer = await take.attempt(lock, retries)
    } catch (err) {
      // Redis failed (the deadline passing is no failure of the lock's). A script given up on
      // (a command timeout) may still run once Redis answers again: its lock is released after
      // it, on the same connection, as Redlock releases a failed acquisition's partial lock,
      // and what it began undone where `abandon` says how.
      if (!isDeadline(err)) {
        meters.acquire[type].error.inc()
        const undo = take.abandon ?? take.release
        undo(lock).catch(() => {})
      }
      throw err
    }
    if (!take.busy(answer) || retries >= settings.retryCount) break
    await delay(settings.retryDelayMs + Math.floor((Math.random() - 0.5) * settings.retryDelayMs))
  }
  if (take.busy(answer)) {
    meters.acquire[type].busy.inc()
    meters.wait[type].observe((performance.now() - start) / 1000)
    throw new LockBusyError()
  }
  if (!take.holds(answer)) return unlocked(answer)
  const acquired = performance.now()
  meters.acquire[type].acquired.inc()
  meters.wait[type].observe((acquired - start) / 1000)
  // Redlock's own reckoning: valid from the start of the try that took it, less the clock drift.
  const expiration = tried + settings.ttlMs - Math.round(settings.ttlMs * 0.01) - 2
  const margin = Math.floor(settings.ttlMs / 5)
  let released = false
  try {
    const lease = { held: () => Date.now() < expiration - margin }
    return await routine(answer, { lease, lock, released: () => { released = true } })
  } finally {
    meters.hold[type].observe((performance.now() - acquired) / 1000)
    if (Date.now() > expiration) meters.lost[type].inc()
    if (!released) take.release(lock).catch(() => {})
  }
}
