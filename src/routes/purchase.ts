import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { PurchaseQuery, PurchaseReply } from '../schemas/sale.ts'
import { errorResponses, retryAfterSeconds, sendError } from '../schemas/common.ts'
import { queryOnly, unlessAnswered, waitingFor, wantsText } from './buyer-protocol.ts'

const purchase: FastifyPluginAsyncTypebox = async (fastify) => {
  const { purchases } = fastify.sale
  queryOnly(fastify)

  fastify.post('/purchase', {
    // Limited per address by the purchase's first script, in the same round trip as its lock and
    // begin (lua/purchase-lock-begin.lua), not by the per-address limiter of the other routes.
    config: { rateLimit: false },
    handlerTimeout: fastify.config.REQUEST_DEADLINE_MS,
    schema: {
      tags: ['buyer'],
      operationId: 'purchase',
      summary: 'Buy a reserved unit; the same code again answers the same purchase',
      description: 'Buys the unit a checkout reserved. Idempotent: the same code purchased again answers 200 ' +
        'with the same `purchase_id`. While another request purchases the same code the answer is 409 ' +
        '`purchase_in_progress`: retry. With `Accept: text/plain` a purchase answers an empty 200.',
      querystring: PurchaseQuery,
      response: {
        200: {
          description: 'Purchased (now, or by an earlier request with the same code)',
          content: {
            'application/json': { schema: PurchaseReply },
            'text/plain': { schema: Type.String({ maxLength: 0, description: 'empty, with Accept: text/plain' }) },
          },
        },
        ...errorResponses('invalid_request', 'code_not_found', 'code_expired', 'purchase_in_progress', 'rate_limited'),
      },
    },
    // Invalid purchases are answered here, so that they are counted like the rest.
    attachValidation: true,
  }, async (request, reply) => {
    if (request.validationError) {
      fastify.saleMeters.purchase.invalid.inc()
      return sendError(reply, 'invalid_request', { message: request.validationError.message })
    }
    const outcome = await unlessAnswered(reply, purchases.purchase(request.query.code, request.ip, waitingFor(reply)))
    if (outcome === undefined) return
    switch (outcome.result) {
      case 'success':
      case 'replay':
        if (wantsText(request)) return reply.type('text/plain; charset=utf-8').send('')
        return {
          status: 'purchased' as const,
          purchase_id: outcome.purchaseId,
          item_id: outcome.itemId,
          user_id: outcome.userId,
          sale_id: outcome.saleId,
        }
      case 'code_not_found':
        return sendError(reply, 'code_not_found')
      case 'code_expired':
        return sendError(reply, 'code_expired')
      case 'lock_busy':
        return sendError(reply, 'purchase_in_progress')
      case 'rate_limited':
        return sendError(reply, 'rate_limited', { retryAfter: retryAfterSeconds(outcome.retryAfterMs) })
    }
  })
}

export default purchase
