import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { AuditPage, AuditQuery } from '../schemas/admin.ts'
import { errorResponses } from '../schemas/common.ts'
import { listActions } from '../repositories/operator-actions.ts'

const audit: FastifyPluginAsyncTypebox = async (fastify) => {
  const { sql } = fastify

  fastify.get('/audit', {
    config: { auth: 'operator' },
    schema: {
      tags: ['operator'],
      operationId: 'listOperatorActions',
      summary: 'The audit: every operator action, newest first',
      description: 'One entry per action (create, end, cancel, export), refused ones included, with who ' +
        '(a name from `ADMIN_TOKENS`, or `token:<fingerprint>` for `ADMIN_TOKEN`), from where, and the request ' +
        'id of its log lines. `sale_id` narrows it to one sale. Calls refused for their token are not ' +
        'actions: they are counted in `flashsale_admin_auth_failures_total` and logged.',
      security: [{ operatorToken: [] }],
      querystring: AuditQuery,
      response: { 200: AuditPage, ...errorResponses('invalid_request', 'unauthorized', 'rate_limited') },
    },
  }, async (request) => {
    const { offset, limit, sale_id: saleId } = request.query
    const { total, rows } = await listActions(sql, Number(offset), Number(limit), saleId === undefined ? undefined : Number(saleId))
    return { total, actions: rows.map((r) => ({ ...r, at: r.at.toISOString() })) }
  })
}

export default audit
