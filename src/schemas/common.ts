import { Type, type TSchema } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { ERRORS, RETRY_AFTER_SECONDS, type ErrorCode } from '../errors.ts'

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'stable error code' }),
    message: Type.String({ description: 'human-readable explanation' }),
  },
  { $id: 'ErrorBody', additionalProperties: false }
)

/**
 * Response schemas for the given error codes, grouped by their HTTP status; a number adds a
 * status whose code is answered with another status on this route (see `sendError`).
 */
export function errorResponses (...codes: (ErrorCode | number)[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {}
  for (const code of [...codes, 'internal_error', 'unavailable'] as const) {
    out[typeof code === 'number' ? code : ERRORS[code].status] = Type.Ref(ErrorBody)
  }
  return out
}

export interface ErrorOptions {
  message?: string
  /** Seconds, for 429 and 503; defaults to RETRY_AFTER_SECONDS. */
  retryAfter?: number
  /** The contract answers a few codes with another status on some routes. */
  status?: number
}

/** Sends an error body for a stable code; 429 and 503 carry Retry-After. */
export function sendError (reply: FastifyReply, code: ErrorCode, options: ErrorOptions = {}) {
  const status = options.status ?? ERRORS[code].status
  if (status === 429 || status === 503) reply.header('retry-after', options.retryAfter ?? RETRY_AFTER_SECONDS)
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
