import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ItemsQuery, ItemsReply, SaleReply } from '../schemas/sale.ts'
import { errorResponses, sendError } from '../schemas/common.ts'
import { unlessAnswered } from './buyer-protocol.ts'

/** Reading the sale when there is none is a missing resource (404), not a conflict. */
const NO_SALE = { status: 404 }

const sale: FastifyPluginAsyncTypebox = async (fastify) => {
  const { catalog } = fastify.sale

  fastify.get('/sale', {
    handlerTimeout: fastify.config.REQUEST_DEADLINE_MS,
    schema: {
      tags: ['buyer'],
      operationId: 'getSale',
      summary: 'The current sale and its progress',
      description: 'The sale running now: its window, per-user limit and units sold, reserved and available.',
      response: { 200: SaleReply, ...errorResponses({ code: 'sale_not_active', ...NO_SALE }, 'rate_limited') },
    },
  }, async (_request, reply) => {
    const current = catalog.current()
    if (!current) return sendError(reply, 'sale_not_active', NO_SALE)
    const units = await unlessAnswered(reply, catalog.progress(current))
    if (units === undefined) return
    return {
      sale_id: current.id,
      starts_at: new Date(current.startsAt).toISOString(),
      ends_at: new Date(current.endsAt).toISOString(),
      per_user_limit: current.perUserLimit,
      units_total: units.total,
      units_sold: units.sold,
      units_reserved: units.reserved,
      units_available: units.available,
    }
  })

  fastify.get('/sale/items', {
    handlerTimeout: fastify.config.REQUEST_DEADLINE_MS,
    schema: {
      tags: ['buyer'],
      operationId: 'listSaleItems',
      summary: 'A page of the current sale\'s items with their free units',
      description: 'Items are numbered from 1; `offset` skips that many, `limit` (at most 1000) bounds the page.',
      querystring: ItemsQuery,
      response: {
        200: ItemsReply,
        ...errorResponses('invalid_request', { code: 'sale_not_active', ...NO_SALE }, 'rate_limited'),
      },
    },
  }, async (request, reply) => {
    const current = catalog.current()
    if (!current) return sendError(reply, 'sale_not_active', NO_SALE)
    const items = await unlessAnswered(reply, catalog.items(current, Number(request.query.offset), Number(request.query.limit)))
    if (items === undefined) return
    return { total: current.items, items }
  })
}

export default sale
