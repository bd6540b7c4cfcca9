import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { PurchaseQuery, PurchaseReply } from '../schemas/sale.ts'
import { errorResponses, sendError } from '../schemas/common.ts'
import { queryOnly, unlessAnswered, waitingFor, wantsText } from './buyer-protocol.ts'

const purchase: FastifyPluginAsyncTypebox = async (fastify) => {
  const { purchases } = fastify.sale
  queryOnly(fastify)

  fastify.post('/purchase', {
    handlerTimeout: fastify.config.REQUEST_DEADLINE_MS,
    schema: {
      summary: 'Buy a reserved unit; the same code again answers the same purchase',
      querystring: PurchaseQuery,
      response: {
        200: {
          content: {
            'application/json': { schema: PurchaseReply },
            'text/plain': { schema: Type.String({ maxLength: 0, description: 'empty, with Accept: text/plain' }) },
          },
        },
        ...errorResponses('invalid_request', 'code_not_found', 'code_expired', 'purchase_in_progress'),
      },
    },
  }, async (request, reply) => {
    const outcome = await unlessAnswered(reply, purchases.purchase(request.query.code, waitingFor(reply)))
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
    }
  })
}

export default purchase
