import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { CheckoutQuery, CheckoutReply } from '../schemas/sale.ts'
import { errorResponses, retryAfterSeconds, sendError } from '../schemas/common.ts'
import type { FastifyRequest } from 'fastify'
import type { ErrorCode } from '../errors.ts'
import type { Reservations } from '../sale/reservations.ts'
import { attemptOf, queryOnly, unlessAnswered, waitingFor, wantsText } from './buyer-protocol.ts'

const FAILURE: Record<string, ErrorCode> = {
  sold_out: 'sold_out',
  user_limit: 'user_limit_reached',
  item_not_found: 'item_not_found',
  sale_not_active: 'sale_not_active',
  rate_limited: 'rate_limited',
}

/** The item of a checkout: `id`, or its alias `item_id`; naming two different items is invalid. */
function itemOf (query: { id?: string | undefined; item_id?: string | undefined }): number | string {
  const { id, item_id: alias } = query
  if (id !== undefined && alias !== undefined && id !== alias) return 'querystring must not name two items (id and item_id differ)'
  const item = id ?? alias
  return item === undefined ? "querystring must have required property 'id'" : Number(item)
}

/** A checkout shed under pressure is an attempt like any other: recorded, as the error it was answered. */
function recordShed (reservations: Reservations) {
  return (request: FastifyRequest) => {
    const { user, item } = attemptOf(request.query)
    reservations.unserved(user, item)
  }
}

const checkout: FastifyPluginAsyncTypebox = async (fastify) => {
  const { reservations } = fastify.sale
  queryOnly(fastify)

  fastify.post('/checkout', {
    // Limited per address and per user by the checkout script itself, in the same round trip as
    // the decision (lua/checkout.lua), not by the per-address limiter of the other routes.
    config: { rateLimit: false, whenShed: recordShed(reservations) },
    handlerTimeout: fastify.config.REQUEST_DEADLINE_MS,
    schema: {
      tags: ['buyer'],
      operationId: 'checkout',
      summary: 'Reserve one unit of an item for a limited time',
      description: 'Reserves one unit of item `id` (or `item_id`) for `user_id` until `expires_at`; the code ' +
        'it answers buys the unit with `POST /purchase`. A reservation not bought by then returns to stock. ' +
        'With `Accept: text/plain` the answer is the bare code. Limited per client address and per `user_id` ' +
        '(429 `rate_limited`), and to the sale\'s per-user limit of units reserved or bought ' +
        '(429 `user_limit_reached`, with `Retry-After` set to the reservation time). Every attempt is recorded.',
      querystring: CheckoutQuery,
      response: {
        200: {
          description: 'Reserved: the code that buys the unit, until `expires_at`',
          content: {
            'application/json': { schema: CheckoutReply },
            'text/plain': { schema: Type.String({ description: 'the bare code, with Accept: text/plain' }) },
          },
        },
        ...errorResponses('invalid_request', 'item_not_found', 'sold_out', 'sale_not_active', 'user_limit_reached', 'rate_limited'),
      },
    },
    // Invalid attempts are answered here, so that they are counted and recorded like the rest.
    attachValidation: true,
  }, async (request, reply) => {
    const item = request.validationError ? request.validationError.message : itemOf(request.query)
    if (typeof item === 'string') {
      const invalid = attemptOf(request.query)
      reservations.invalid(invalid.user, invalid.item, invalid.sent)
      return sendError(reply, 'invalid_request', { message: item })
    }
    const outcome = await unlessAnswered(reply, reservations.checkout(item, request.query.user_id, request.ip, waitingFor(reply)))
    if (outcome === undefined) return
    if (outcome.result === 'success') {
      if (wantsText(request)) return reply.type('text/plain; charset=utf-8').send(outcome.code)
      return {
        code: outcome.code,
        item_id: item,
        sale_id: outcome.sale.id,
        expires_at: new Date(outcome.expiresAt).toISOString(),
      }
    }
    const code = FAILURE[outcome.result]!
    // A limited client may retry when its window ends; a user at the limit, once a
    // reservation of theirs expires.
    const retryAfter = outcome.result === 'rate_limited'
      ? retryAfterSeconds(outcome.retryAfterMs)
      : outcome.result === 'user_limit' ? outcome.sale?.reservationTtlSeconds : undefined
    return sendError(reply, code, { retryAfter })
  })
}

export default checkout
