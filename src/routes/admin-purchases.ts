import { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SaleParams } from '../schemas/admin.ts'
import { errorResponses, sendError } from '../schemas/common.ts'
import { purchaseLines, type ExportFormat } from '../repositories/reports.ts'
import { saleById } from '../repositories/sale-lifecycle.ts'

const COLUMNS = ['purchase_id', 'code', 'sale_id', 'item_id', 'user_id', 'created_at'] as const
const NDJSON = 'application/x-ndjson'
const CSV = 'text/csv; charset=utf-8'

/** A header line, then the lines Postgres writes, at the pace the client reads. */
async function * exportChunks (lines: AsyncGenerator<Buffer>, format: ExportFormat) {
  if (format === 'csv') yield Buffer.from(`${COLUMNS.join(',')}\r\n`)
  yield * lines
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
    const format: ExportFormat = ndjson ? 'ndjson' : 'csv'
    reply
      .header('content-type', ndjson ? NDJSON : CSV)
      .header('content-disposition', `attachment; filename="sale-${saleId}-purchases.${ndjson ? 'ndjson' : 'csv'}"`)
    // Readable.from asks for the next batch only once the socket has taken the last: one or two
    // batches in memory whatever the sale's size. A client that goes away ends the cursor.
    const body = Readable.from(exportChunks(purchaseLines(sql, saleId, format), format), { objectMode: false, highWaterMark: 64 * 1024 })
    // The 200 schema documents text; Fastify pipes a stream as it is, with backpressure.
    return reply.send(body as unknown as string)
  })
}

export default exportRoute
