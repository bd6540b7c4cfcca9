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

/** The lock a purchase commits under; the redlock plugin provides it. */
export interface Locks {
  /**
   * Runs `routine` while holding the lock on `resource`, extending it while the routine runs.
   * The signal aborts when the lock could not be extended: the routine must check it before
   * any commit. Throws LockBusyError when the lock stays taken through the bounded retries,
   * UnavailableError when no quorum of lock nodes answers.
   */
  withLock<T>(type: LockType, resource: string, routine: (signal: AbortSignal) => Promise<T>): Promise<T>
}
