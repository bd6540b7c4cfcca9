import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SaleParams } from '../schemas/admin.ts'
import { errorResponses, sendError } from '../schemas/common.ts'
import { purchaseBatches, type PurchaseExportRow } from '../repositories/reports.ts'
import { saleById } from '../repositories/sale-lifecycle.ts'

const COLUMNS = ['purchase_id', 'code', 'sale_id', 'item_id', 'user_id', 'created_at'] as const
const NDJSON = 'application/x-ndjson'
const CSV = 'text/csv; charset=utf-8'

/** A CSV field (RFC 4180): quoted when it holds a separator, a quote or a line break. */
function csvField (value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value
}

function csvLines (saleId: number, rows: readonly PurchaseExportRow[]): string {
  let out = ''
  for (const r of rows) {
    out += `${r.purchase_id},${csvField(r.code)},${saleId},${r.item_id},${csvField(r.user_id)},${r.created_at.toISOString()}\r\n`
  }
  return out
}

function ndjsonLines (saleId: number, rows: readonly PurchaseExportRow[]): string {
  let out = ''
  for (const r of rows) {
    out += `${JSON.stringify({ purchase_id: r.purchase_id, code: r.code, sale_id: saleId, item_id: r.item_id, user_id: r.user_id, created_at: r.created_at })}\n`
  }
  return out
}

/**
 * The body of an export: one chunk per cursor batch, made only when the socket has taken the
 * last (Readable.from pulls the next batch when its buffer drains), so memory holds a batch or
 * two whatever the sale's size. A client that goes away ends the cursor and frees its connection.
 */
async function * exportChunks (batches: AsyncGenerator<PurchaseExportRow[]>, saleId: number, ndjson: boolean) {
  if (!ndjson) yield `${COLUMNS.join(',')}\r\n`
  for await (const rows of batches) yield ndjson ? ndjsonLines(saleId, rows) : csvLines(saleId, rows)
}

const exportRoute: FastifyPluginAsyncTypebox = async (fastify) => {
  const { sql } = fastify

  fastify.get('/sales/:id/purchases', {
    config: { auth: 'operator', audit: 'export_purchases' },
    schema: {
      tags: ['operator'],
      operationId: 'exportPurchases',
      summary: 'Every purchase of a sale, streamed as CSV or NDJSON',
      description: `In the order made. \`Accept: ${NDJSON}\` (or \`application/ndjson\`) gives one JSON object per ` +
        `line; anything else gives CSV with a header line (${COLUMNS.join(', ')}). Streamed from a database ` +
        'cursor at the pace the client reads: memory stays flat however many purchases there are.',
      security: [{ operatorToken: [] }],
      params: SaleParams,
      response: {
        200: {
          description: 'The purchases, streamed',
          content: { 'text/csv': { schema: { type: 'string' } }, [NDJSON]: { schema: { type: 'string' } } },
        },
        ...errorResponses('invalid_request', 'unauthorized', 'sale_not_found', 'rate_limited'),
      },
    },
  }, async (request, reply) => {
    const saleId = Number(request.params.id)
    if (!await saleById(sql, saleId)) return sendError(reply, 'sale_not_found')
    const ndjson = /application\/(x-)?ndjson/i.test(request.headers.accept ?? '')
    reply
      .header('content-type', ndjson ? NDJSON : CSV)
      .header('content-disposition', `attachment; filename="sale-${saleId}-purchases.${ndjson ? 'ndjson' : 'csv'}"`)
    const body = Readable.from(exportChunks(purchaseBatches(sql, saleId), saleId, ndjson), { objectMode: false, highWaterMark: 64 * 1024 })
    // The 200 schema documents text; Fastify pipes a stream as it is, with backpressure.
    return reply.send(body as unknown as string)
  })
}

export default exportRoute
