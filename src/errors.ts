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
  purchase_in_progress: { status: 409, message: 'This reservation is being purchased; retry shortly.' },
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

/** Seconds a client should wait before retrying a 429 or 503. */
export const RETRY_AFTER_SECONDS = 1

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

const DEPENDENCY_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  // postgres.js
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
  // Postgres: statement timeout, shutdown, too many connections, connection exceptions
  '57014', '57P01', '57P02', '57P03', '53300', '08000', '08003', '08006',
])
const DEPENDENCY_MESSAGE =
  /Connection is closed|enableOfflineQueue|Command timed out|max retries per request|slots cache|^(LOADING|BUSY|CLUSTERDOWN|READONLY|MASTERDOWN|TRYAGAIN|MOVED|ASK)\b/i

/** True when an error means Redis or Postgres could not serve, not that the code is wrong. */
export function isDependencyError (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if (err instanceof UnavailableError) return true
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && DEPENDENCY_CODES.has(code)) return true
  if (err.name === 'MaxRetriesPerRequestError') return true
  return DEPENDENCY_MESSAGE.test(err.message)
}
