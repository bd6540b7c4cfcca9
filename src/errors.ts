/**
 * Every error the API can answer, declared once: HTTP status and the text a client sees.
 * Expected outcomes of a sale (sold out, limit reached, ...) are among them: they are
 * answers, not exceptions.
 */
export const ERRORS = {
  invalid_request: { status: 400, message: 'The request is invalid.' },
  unauthorized: { status: 401, message: 'A valid operator token is required.' },
  item_not_found: { status: 404, message: 'No such item in the current sale.' },
  code_not_found: { status: 404, message: 'No reservation has this code.' },
  sale_not_found: { status: 404, message: 'No sale has this id.' },
  sale_not_active: { status: 409, message: 'No sale is running right now.' },
  sold_out: { status: 409, message: 'This item is sold out.' },
  purchase_in_progress: { status: 409, message: 'This reservation is being purchased; retry shortly.', retryAfter: true },
  invalid_transition: { status: 409, message: 'The sale is not in a state this action applies to.' },
  code_expired: { status: 410, message: 'The reservation has expired.' },
  method_not_allowed: { status: 405, message: 'This path does not take this method.' },
  request_timeout: { status: 408, message: 'The request took too long to arrive.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'The request body must be JSON (Content-Type: application/json).' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  user_limit_reached: { status: 429, message: 'You have reached the per-user limit for this sale.' },
  rate_limited: { status: 429, message: 'Too many requests; slow down.' },
  not_found: { status: 404, message: 'No such route.' },
  internal_error: { status: 500, message: 'Something went wrong on our side.' },
  unavailable: { status: 503, message: 'The service is temporarily unavailable; retry shortly.' },
} as const

export type ErrorCode = keyof typeof ERRORS

/** Seconds a client should wait before retrying a 429, a 503 or a code marked `retryAfter`. */
export const RETRY_AFTER_SECONDS = 1

/**
 * Whether an answer carries Retry-After: every 429 and 503, and the codes that say "retry" with
 * another status (409 `purchase_in_progress`: the purchase under way, or a lock its crashed
 * holder left, ends within the lock's ttl).
 */
export function retriable (code: ErrorCode, status: number = ERRORS[code].status): boolean {
  return status === 429 || status === 503 || 'retryAfter' in ERRORS[code]
}

/** A failure that maps to one of the codes above; thrown where a reply is not at hand. */
export class ApiError extends Error {
  readonly statusCode: number
  readonly code: ErrorCode
  constructor (code: ErrorCode, message: string = ERRORS[code].message) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.statusCode = ERRORS[code].status
  }
}

/** A dependency (Redis, Postgres, the lock quorum) could not serve the request. */
export class UnavailableError extends ApiError {
  readonly dependency: string
  constructor (dependency: string, options?: { cause?: unknown }) {
    super('unavailable')
    this.dependency = dependency
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

/** The request's deadline passed: its buyer was answered, no dependency failed. */
export function isDeadline (err: unknown): boolean {
  return err instanceof UnavailableError && err.dependency === 'deadline'
}

const DEPENDENCY_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  // postgres.js
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
  // Postgres: statement timeout, shutdown, too many connections, connection exceptions
  '57014', '57P01', '57P02', '57P03', '53300', '08000', '08003', '08006',
])
/**
 * What Redis answers while it cannot serve a write now: a cluster electing a master (CLUSTERDOWN),
 * resharding (TRYAGAIN, MOVED, ASK), a node that became a replica (READONLY) or lost its master
 * (MASTERDOWN), a server loading its data (LOADING) or running a long script (BUSY), a master
 * short of the replicas it requires (NOREPLICAS). Redis puts the code first; a script's error
 * names it after a dash.
 */
const REDIS_REFUSAL = /(?:^|-)(LOADING|BUSY|CLUSTERDOWN|READONLY|MASTERDOWN|TRYAGAIN|MOVED|ASK|NOREPLICAS|UNBLOCKED)\b/
/**
 * What the clients say when a connection or a command gave out: closed or reset, timed out, out
 * of retries, or (a cluster) out of redirections while the slots moved, with no master for a slot,
 * or not ready.
 */
const CONNECTION_MESSAGE = new RegExp([
  'Connection is (closed|aborted|discarded)', 'Command aborted due to connection close', 'enableOfflineQueue',
  'Command timed out', 'Socket timeout', 'max retries per request', 'slots cache', 'Too many Cluster redirections',
  'No master node is available', 'None of startup nodes is available', 'Cluster is (disconnected|disconnecting|ended)',
  "Cluster isn't ready", 'Node is disconnected', 'Not enough good replicas',
].join('|'), 'i')

/**
 * True when an error means Redis or Postgres could not serve, not that the code is wrong: the
 * error itself, or what it wraps (`cause`, an AggregateError's errors, a cluster's last node error).
 */
export function isDependencyError (err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 4) return false
  if (err instanceof UnavailableError) return true
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && DEPENDENCY_CODES.has(code)) return true
  if (err.name === 'MaxRetriesPerRequestError' || err.name === 'ClusterAllFailedError') return true
  if (REDIS_REFUSAL.test(err.message) || CONNECTION_MESSAGE.test(err.message)) return true
  const wrapped = [err.cause, (err as { lastNodeError?: unknown }).lastNodeError]
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.every((e) => isDependencyError(e, depth + 1))
  return wrapped.some((e) => isDependencyError(e, depth + 1))
}
