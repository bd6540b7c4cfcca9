import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { bearerMatcher, WWW_AUTHENTICATE } from '../../bearer-token.ts'
import { sendError } from '../../schemas/common.ts'

/**
 * Every route that declares `config.auth: 'operator'` answers 401 `unauthorized` unless called
 * with `Authorization: Bearer <ADMIN_TOKEN>`, before anything else of the route runs (its body
 * is not even read). Without ADMIN_TOKEN those routes are off, and say so.
 */
export default fp(
  async function operatorAuth (fastify) {
    const { ADMIN_TOKEN } = fastify.config
    const authorized = bearerMatcher(ADMIN_TOKEN)
    const message = ADMIN_TOKEN ? undefined : 'The operator API is disabled: set ADMIN_TOKEN to enable it.'
    const guard = async (request: FastifyRequest, reply: FastifyReply) => {
      if (authorized(request.headers.authorization)) return
      reply.header('www-authenticate', WWW_AUTHENTICATE)
      return sendError(reply, 'unauthorized', { message })
    }
    fastify.addHook('onRoute', (route: RouteOptions) => {
      if (route.config?.auth !== 'operator') return
      route.onRequest = [guard, ...[route.onRequest ?? []].flat()] as RouteOptions['onRequest']
    })
  },
  { name: 'operator-auth', dependencies: ['config'], fastify: '5.x' }
)
