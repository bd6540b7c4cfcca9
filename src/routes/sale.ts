import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ItemsQuery, ItemsReply, SaleReply } from '../schemas/sale.ts'
import { errorResponses, sendError } from '../schemas/common.ts'
import { itemImageUrl, itemName } from '../repositories/sales.ts'
import { unlessAnswered } from './buyer-protocol.ts'

/** Reading the sale when there is none is a missing resource (404), not a conflict. */
const NO_SALE = { status: 404 }

const sale: FastifyPluginAsyncTypebox = async (fastify) => {
  const { catalog } = fastify.sale
  const { redis, meters } = fastify

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
    const read = await unlessAnswered(reply, meters.redis('sale_read', () =>
      redis.hmget(current.keys.meta, 'total', 'sold', 'reserved')))
    if (read === undefined) return
    const [total, sold, reserved] = read
    const unitsTotal = Number(total ?? current.unitsTotal)
    const unitsSold = Number(sold ?? 0)
    const unitsReserved = Number(reserved ?? 0)
    return {
      sale_id: current.id,
      starts_at: new Date(current.startsAt).toISOString(),
      ends_at: new Date(current.endsAt).toISOString(),
      per_user_limit: current.perUserLimit,
      units_total: unitsTotal,
      units_sold: unitsSold,
      units_reserved: unitsReserved,
      units_available: unitsTotal - unitsSold - unitsReserved,
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
    const offset = Number(request.query.offset)
    const first = offset + 1
    const last = Math.min(offset + Number(request.query.limit), current.items)
    const ids: number[] = []
    for (let id = first; id <= last; id++) ids.push(id)
    const free = ids.length > 0
      ? await unlessAnswered(reply, meters.redis('items_read', () => redis.hmget(current.keys.stock, ...ids.map(String))))
      : []
    if (free === undefined) return
    return {
      total: current.items,
      items: ids.map((id, i) => ({
        id,
        name: itemName(id),
        image_url: itemImageUrl(id),
        stock: current.stockPerItem,
        available: Number(free[i] ?? 0),
      })),
    }
  })
}

export default sale
