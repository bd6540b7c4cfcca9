import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { CreateSaleBody, CreateSaleReply } from '../schemas/sale.ts'
import { PageQuery, SaleChanged, SaleDetail, SaleParams, SalesPage } from '../schemas/admin.ts'
import { errorResponses, sendError } from '../schemas/common.ts'
import { listSales, saleById, saleState, transitionSale, type SaleRecord } from '../repositories/sale-lifecycle.ts'
import { saleReport } from '../sale/report.ts'

const HOUR_MS = 3_600_000
const security = [{ operatorToken: [] }]
const tags = ['operator']

/** A sale as the operator API shows it, in its state at `now`. */
export function saleView (row: SaleRecord, now = Date.now()) {
  return {
    sale_id: Number(row.id),
    state: saleState(row, now),
    slot: row.slot ? row.slot.toISOString() : null,
    starts_at: row.starts_at.toISOString(),
    ends_at: row.ends_at.toISOString(),
    per_user_limit: row.per_user_limit,
    reservation_ttl_seconds: row.reservation_ttl_seconds,
    items: row.items,
    stock_per_item: row.stock_per_item,
    units_total: Number(row.units_total),
    shards: row.shards,
    created_at: row.created_at.toISOString(),
  }
}

/** POST /sales: a sale now or later. */
const createRoute: FastifyPluginAsyncTypebox = async (fastify) => {
  const { catalog } = fastify.sale
  const { config } = fastify

  fastify.post('/sales', {
    config: { auth: 'operator', audit: 'create_sale' },
    schema: {
      tags,
      operationId: 'createSale',
      summary: 'Create a sale now or scheduled; a sale starting now ends the current one',
      description: 'Times are ISO 8601; `starts_at` defaults to now and `ends_at` to an hour after the start. ' +
        'A sale whose window contains now is the current sale: creating one ends the sales it overlaps (one ' +
        'that started earlier ends where the new one starts, and its unsold reservations can no longer be ' +
        'purchased; one that starts later is cancelled). `per_user_limit` and `reservation_ttl_seconds` ' +
        'default to `PER_USER_LIMIT` and `RESERVATION_TTL_SECONDS`.',
      security,
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
    request.auditSaleId = sale.id
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

/** GET /sales and /sales/:id: every sale, and one with its report. */
const readRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { catalog } = fastify.sale
  const { sql } = fastify

  fastify.get('/sales', {
    config: { auth: 'operator' },
    schema: {
      tags,
      operationId: 'listSales',
      summary: 'Every sale, newest first, each in its state',
      security,
      querystring: PageQuery,
      response: { 200: SalesPage, ...errorResponses('invalid_request', 'unauthorized', 'rate_limited') },
    },
  }, async (request) => {
    const { total, rows } = await listSales(sql, Number(request.query.offset), Number(request.query.limit))
    const now = Date.now()
    return { total, sales: rows.map((r) => saleView(r, now)) }
  })

  fastify.get('/sales/:id', {
    config: { auth: 'operator' },
    schema: {
      tags,
      operationId: 'getSale',
      summary: 'A sale and its report, live while it runs, final once it is over',
      security,
      params: SaleParams,
      response: { 200: SaleDetail, ...errorResponses('invalid_request', 'unauthorized', 'sale_not_found', 'rate_limited') },
    },
  }, async (request, reply) => {
    const row = await saleById(sql, Number(request.params.id))
    if (!row) return sendError(reply, 'sale_not_found')
    const now = Date.now()
    return { sale: saleView(row, now), report: await saleReport(sql, catalog, row, now) }
  })
}

/** POST /sales/:id/end and DELETE /sales/:id: a sale ended now, or cancelled before it starts. */
const transitionRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { catalog } = fastify.sale
  const { sql } = fastify

  fastify.post('/sales/:id/end', {
    config: { auth: 'operator', audit: 'end_sale' },
    schema: {
      tags,
      operationId: 'endSale',
      summary: 'End a running sale now',
      description: 'The sale ends at once on every instance: checkouts answer 409 `sale_not_active`. Its ' +
        'unsold reservations can no longer be purchased (410 `code_expired`), as when a new sale supersedes ' +
        'it; what was bought stays bought. A sale that is not running answers 409 `invalid_transition`.',
      security,
      params: SaleParams,
      response: {
        200: SaleChanged,
        ...errorResponses('invalid_request', 'unauthorized', 'sale_not_found', 'invalid_transition', 'payload_too_large',
          'unsupported_media_type', 'rate_limited'),
      },
    },
  }, async (request, reply) => transition(request.params.id, 'end', reply))

  fastify.delete('/sales/:id', {
    config: { auth: 'operator', audit: 'cancel_sale' },
    schema: {
      tags,
      operationId: 'cancelSale',
      summary: 'Cancel a sale that has not started',
      description: 'Its window is emptied: it never starts, on any instance, and it stays listed as `cancelled`. ' +
        'A cancelled hourly sale leaves its hour without a sale; the next hour\'s is made as usual. A sale that ' +
        'has started answers 409 `invalid_transition` (end it instead).',
      security,
      params: SaleParams,
      response: {
        200: SaleChanged,
        ...errorResponses('invalid_request', 'unauthorized', 'sale_not_found', 'invalid_transition', 'payload_too_large',
          'unsupported_media_type', 'rate_limited'),
      },
    },
  }, async (request, reply) => transition(request.params.id, 'cancel', reply))

  async function transition (id: string, change: 'end' | 'cancel', reply: Parameters<typeof sendError>[0]) {
    const done = await transitionSale(sql, Number(id), change, new Date())
    if (done.outcome === 'not_found') return sendError(reply, 'sale_not_found')
    if (done.outcome === 'invalid') {
      const state = saleState(done.sale, Date.now())
      return sendError(reply, 'invalid_transition', {
        message: change === 'end' ? `Only an active sale can be ended; this one is ${state}.` : `Only a scheduled sale can be cancelled; this one is ${state}.`,
      })
    }
    await catalog.changed(done.sale)
    return reply.send({ sale: saleView(done.sale) })
  }
}

/** The sales of the operator API: create, list, inspect, end, cancel. */
const sales: FastifyPluginAsyncTypebox = async (fastify) => {
  await fastify.register(createRoute)
  await fastify.register(readRoutes)
  await fastify.register(transitionRoutes)
}

export default sales
