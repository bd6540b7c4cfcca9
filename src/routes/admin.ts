import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { CreateSaleBody, CreateSaleReply } from '../schemas/sale.ts'
import { errorResponses, sendError } from '../schemas/common.ts'

const HOUR_MS = 3_600_000

/**
 * What every route of the operator API shares: it declares that it needs the operator token (one
 * that forgets fails the start rather than serving anyone), and takes JSON only (any other body
 * type is 415, not a text body failing validation as 400).
 */
function operatorApi (fastify: FastifyInstance): void {
  fastify.addHook('onRoute', (route) => {
    if (route.config?.auth !== 'operator') throw new Error(`operator route ${route.url} must declare config.auth: 'operator'`)
  })
  fastify.removeAllContentTypeParsers()
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, fastify.getDefaultJsonParser('error', 'error'))
}

const admin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { catalog } = fastify.sale
  const { config } = fastify
  operatorApi(fastify)

  fastify.post('/sales', {
    config: { auth: 'operator' },
    schema: {
      tags: ['operator'],
      operationId: 'createSale',
      summary: 'Create a sale now or scheduled; a sale starting now ends the current one',
      description: 'Times are ISO 8601; `starts_at` defaults to now and `ends_at` to an hour after the start. ' +
        'A sale whose window contains now is the current sale: creating one ends the sales it overlaps (one ' +
        'that started earlier ends where the new one starts, and its unsold reservations can no longer be ' +
        'purchased; one that starts later is cancelled). `per_user_limit` and `reservation_ttl_seconds` ' +
        'default to `PER_USER_LIMIT` and `RESERVATION_TTL_SECONDS`.',
      security: [{ operatorToken: [] }],
      body: CreateSaleBody,
      response: {
        201: CreateSaleReply,
        ...errorResponses('invalid_request', 'unauthorized', 'payload_too_large', 'unsupported_media_type', 'rate_limited'),
      },
    },
  }, async (request, reply) => {
    const body = request.body
    const now = Date.now()
    const startsAt = body.starts_at ? Date.parse(body.starts_at) : now
    const endsAt = body.ends_at ? Date.parse(body.ends_at) : Math.max(startsAt, now) + HOUR_MS
    if (endsAt <= startsAt) return sendError(reply, 'invalid_request', { message: 'ends_at must be after starts_at.' })
    if (endsAt <= now) return sendError(reply, 'invalid_request', { message: 'ends_at must be in the future.' })
    const sale = await catalog.create({
      slot: null,
      starts_at: new Date(startsAt),
      ends_at: new Date(endsAt),
      per_user_limit: body.per_user_limit ?? config.PER_USER_LIMIT,
      reservation_ttl_seconds: body.reservation_ttl_seconds ?? config.RESERVATION_TTL_SECONDS,
      items: body.items,
      stock_per_item: body.stock_per_item,
    })
    // Only a scheduled slot can be refused (taken); an operator sale always takes its window.
    if (!sale) throw new Error('operator sale was not created')
    request.log.info({ sale_id: sale.id, items: sale.items, stock_per_item: sale.stockPerItem }, 'sale created')
    return reply.code(201).send({
      sale_id: sale.id,
      starts_at: new Date(sale.startsAt).toISOString(),
      ends_at: new Date(sale.endsAt).toISOString(),
      per_user_limit: sale.perUserLimit,
      reservation_ttl_seconds: sale.reservationTtlSeconds,
      items: sale.items,
      stock_per_item: sale.stockPerItem,
      units_total: sale.unitsTotal,
    })
  })
}

export default admin
