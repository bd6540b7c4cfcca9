import { Type, type TSchema } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { ERRORS, RETRY_AFTER_SECONDS, retriable, type ErrorCode } from '../errors.ts'

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'stable error code' }),
    message: Type.String({ description: 'human-readable explanation' }),
  },
  { $id: 'ErrorBody', additionalProperties: false }
)

/** Where a response schema names the error codes it stands for, for the API's documentation. */
export const ERROR_CODES = 'x-error-codes'

/** A code a route answers with another status than its own (see `sendError`). */
export interface CodeWithStatus {
  code: ErrorCode
  status: number
}

/**
 * The ErrorBody response of one status, naming the codes it carries: the documentation lists
 * them, and serialization sees ErrorBody alone.
 */
export function errorResponse (...codes: ErrorCode[]): TSchema {
  return Type.Ref(ErrorBody, {
    description: codes.map((c) => `\`${c}\`: ${ERRORS[c].message}`).join('\n\n'),
    [ERROR_CODES]: codes,
  })
}

/**
 * Response schemas for the codes a route answers, grouped by the status each is answered
 * with; `internal_error` and `unavailable` are added, since any route can answer them.
 */
export function errorResponses (...codes: (ErrorCode | CodeWithStatus)[]): Record<number, TSchema> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const entry of [...codes, 'internal_error', 'unavailable'] as const) {
    const { code, status } = typeof entry === 'string' ? { code: entry, status: ERRORS[entry].status } : entry
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  return Object.fromEntries([...byStatus].map(([status, list]) => [status, errorResponse(...list)]))
}

export interface ErrorOptions {
  message?: string
  /** Seconds, for an answer that carries Retry-After; defaults to RETRY_AFTER_SECONDS. */
  retryAfter?: number
  /** The contract answers a few codes with another status on some routes. */
  status?: number
}

/** Whole seconds to wait for a wait in ms, at least 1: a Retry-After. */
export function retryAfterSeconds (ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000))
}

/** Sends an error body for a stable code; 429, 503 and a few codes that say "retry" carry Retry-After. */
export function sendError (reply: FastifyReply, code: ErrorCode, options: ErrorOptions = {}) {
  const status = options.status ?? ERRORS[code].status
  if (retriable(code, status)) reply.header('retry-after', options.retryAfter ?? RETRY_AFTER_SECONDS)
  return reply.code(status).send({ error: code, message: options.message ?? ERRORS[code].message })
}

export const UserId = Type.String({
  pattern: '^[A-Za-z0-9_-]{1,64}$',
  description: '1-64 characters of [A-Za-z0-9_-]',
})

/**
 * A positive integer written in plain decimal digits: query strings are text, and `0x10`, `1e1`
 * or ` 7` are not ids (a number parser would read them as 16, 10 and 7). Fifteen digits at most,
 * so every id is exact as a number.
 */
export const DecimalId = Type.String({
  pattern: '^[1-9][0-9]*$', maxLength: 15, description: 'a positive integer in decimal digits',
})
