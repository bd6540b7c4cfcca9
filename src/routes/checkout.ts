import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CheckoutQuery, CheckoutReply } from '../schemas/sale.js'
import { errorResponses, sendError } from '../schemas/common.js'
import type { ErrorCode } from '../errors.js'

const FAILURE: Record<string, ErrorCode> = {
  sold_out: 'sold_out',
  user_limit: 'user_limit_reached',
  item_not_found: 'item_not_found',
  sale_not_active: 'sale_not_active',
  rate_limited: 'rate_limited',
}

const checkout: FastifyPluginAsyncTypebox = async (fastify) => {
  const { reservations, attempts, catalog } = fastify.sale
  const { meters } = fastify

  fastify.post('/checkout', {
    schema: {
      summary: 'Reserve one unit of an item for a limited time',
      querystring: CheckoutQuery,
      response: {
        200: CheckoutReply,
        ...errorResponses('invalid_request', 'item_not_found', 'sold_out', 'sale_not_active', 'user_limit_reached', 'rate_limited'),
      },
    },
    // Invalid attempts are answered here, so that they are counted and logged like the rest.
    attachValidation: true,
  }, async (request, reply) => {
    if (request.validationError) {
      const q = request.query as Record<string, unknown>
      const user = typeof q.user_id === 'string' ? q.user_id.slice(0, 64) : null
      const item = Number(q.id)
      attempts.record(catalog.current()?.id ?? null, user, Number.isSafeInteger(item) && item > 0 ? item : null, 'invalid')
      meters.checkout.invalid.inc()
      return sendError(reply, 'invalid_request', { message: request.validationError.message })
    }
    const { user_id: userId, id: itemId } = request.query
    const outcome = await reservations.checkout(itemId, userId, request.ip)
    if (outcome.result === 'success') {
      return {
        code: outcome.code,
        item_id: itemId,
        sale_id: outcome.sale.id,
        expires_at: new Date(outcome.expiresAt).toISOString(),
      }
    }
    const code = FAILURE[outcome.result]!
    // A limited client may retry when its window ends; a user at the limit, once a
    // reservation of theirs expires.
    const retryAfter = outcome.result === 'rate_limited'
      ? Math.max(1, Math.ceil(outcome.retryAfterMs / 1000))
      : outcome.result === 'user_limit' ? outcome.sale?.reservationTtlSeconds : undefined
    return sendError(reply, code, { retryAfter })
  })
}

export default checkout
