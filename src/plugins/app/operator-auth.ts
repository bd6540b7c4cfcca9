import fp from 'fastify-plugin'
import client from '@platformatic/prom-client'
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { operatorMatcher, tokenFingerprint, WWW_AUTHENTICATE } from '../../bearer-token.ts'
import { sendError } from '../../schemas/common.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who called an operator route: a name from ADMIN_TOKENS, or ADMIN_TOKEN's fingerprint. */
    operator: string
  }
}

/** Refused tokens are logged at most this often (with how many since), and always counted. */
const REFUSAL_LOG_INTERVAL_MS = 10_000

/**
 * Every route that declares `config.auth: 'operator'` answers 401 `unauthorized` unless called
 * with `Authorization: Bearer <token>`, ADMIN_TOKEN or a named one of ADMIN_TOKENS, before
 * anything else of the route runs (its body is not even read). The request then knows its
 * operator. A refusal is counted (`flashsale_admin_auth_failures_total`) and logged, at most one
 * line per REFUSAL_LOG_INTERVAL_MS. Without any token those routes are off, and say so.
 */
export default fp(
  async function operatorAuth (fastify) {
    const { ADMIN_TOKEN, ADMIN_TOKENS } = fastify.config
    const operators = [...(ADMIN_TOKEN ? [{ name: tokenFingerprint(ADMIN_TOKEN), token: ADMIN_TOKEN }] : []), ...ADMIN_TOKENS]
    const operatorOf = operatorMatcher(operators)
    const message = operators.length > 0 ? undefined : 'The operator API is disabled: set ADMIN_TOKEN or ADMIN_TOKENS to enable it.'
    const refusals = new client.Counter({
      name: 'flashsale_admin_auth_failures_total',
      help: 'Operator API calls refused for a missing or unknown token.',
      registers: [fastify.meters.registry],
    })
    refusals.inc(0)
    let refusedSinceLog = 0
    let lastLog = 0

    fastify.decorateRequest('operator', '')
    const guard = async (request: FastifyRequest, reply: FastifyReply) => {
      const operator = operatorOf(request.headers.authorization)
      if (operator !== undefined) {
        request.operator = operator
        return
      }
      refusals.inc()
      refusedSinceLog++
      if (Date.now() - lastLog >= REFUSAL_LOG_INTERVAL_MS) {
        request.log.warn({ refused: refusedSinceLog, client_ip: request.ip, token_given: request.headers.authorization !== undefined },
          'operator call refused: missing or unknown token')
        lastLog = Date.now()
        refusedSinceLog = 0
      }
      reply.header('www-authenticate', WWW_AUTHENTICATE)
      return sendError(reply, 'unauthorized', { message })
    }
    fastify.addHook('onRoute', (route: RouteOptions) => {
      if (route.config?.auth !== 'operator') return
      route.onRequest = [guard, ...[route.onRequest ?? []].flat()] as RouteOptions['onRequest']
    })
  },
  { name: 'operator-auth', dependencies: ['config', 'metrics'], fastify: '5.x' }
)
