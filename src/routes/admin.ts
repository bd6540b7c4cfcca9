import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyInstance } from 'fastify'
import { insertAction } from '../repositories/operator-actions.ts'
import adminSales from './admin-sales.ts'
import adminPurchases from './admin-purchases.ts'
import adminAudit from './admin-audit.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The operator action a route performs: each call is stored in `operator_actions`. */
    audit?: string
  }
  interface FastifyRequest {
    /** The sale an audited action was about, when the route learns it (a created sale). */
    auditSaleId: number | null
  }
}

/** The outcome an action is audited with: `done`, or the code of the error it was answered. */
function outcomeOf (status: number, payload: unknown): string {
  if (status < 400) return 'done'
  try {
    const code = typeof payload === 'string' ? (JSON.parse(payload) as { error?: unknown }).error : undefined
    return typeof code === 'string' ? code : String(status)
  } catch {
    return String(status)
  }
}

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

/**
 * Every call of a route that declares `config.audit` is an operator action: stored in
 * `operator_actions` before the answer leaves (once an operator has the answer, the audit has
 * the action), and logged, naming the operator the token belongs to (see operator-auth.ts).
 */
function auditTrail (fastify: FastifyInstance): void {
  const { sql } = fastify
  fastify.decorateRequest('auditSaleId', null)
  fastify.addHook('onSend', async (request, reply, payload) => {
    const action = request.routeOptions.config.audit
    if (!action || !request.operator) return payload
    const id = Number((request.params as { id?: string } | undefined)?.id)
    const entry = {
      action,
      sale_id: request.auditSaleId ?? (Number.isSafeInteger(id) && id > 0 ? id : null),
      outcome: outcomeOf(reply.statusCode, payload),
      operator: request.operator,
      client_ip: request.ip ?? null,
      request_id: String(request.id),
    }
    request.log.info({ audit: entry }, 'operator action')
    await insertAction(sql, entry).catch((err: unknown) => request.log.error({ err, audit: entry }, 'operator action not stored in the audit'))
    return payload
  })
}

/** The operator API: the life of a sale, and the audit of every action taken on one. */
const admin: FastifyPluginAsyncTypebox = async (fastify) => {
  operatorApi(fastify)
  auditTrail(fastify)
  await fastify.register(adminSales)
  await fastify.register(adminPurchases)
  await fastify.register(adminAudit)
}

export default admin
