import type { FastifyInstance, FastifyPluginAsync, HTTPMethods } from 'fastify'
import { errorResponse, sendError } from '../schemas/common.ts'

const METHODS: HTTPMethods[] = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']

/** Collects the methods of every route registered from now on, by path. */
export function routeMethods (fastify: FastifyInstance): Map<string, Set<string>> {
  const byPath = new Map<string, Set<string>>()
  fastify.addHook('onRoute', (route) => {
    const set = byPath.get(route.url) ?? new Set<string>()
    for (const m of [route.method].flat()) set.add(m)
    byPath.set(route.url, set)
  })
  return byPath
}

/**
 * A known path called with another method answers 405 `method_not_allowed` with `Allow`, not
 * "no such route". These are real routes, so they show in the route histogram like any other.
 * Registered after every other route, from the methods `routeMethods` collected.
 */
const methodNotAllowed: FastifyPluginAsync<{ methods: Map<string, Set<string>> }> = async (fastify, { methods }) => {
  for (const [url, allowed] of [...methods]) {
    // Some plugins add routes the onRoute hook never reports (the docs' GET of `/docs/`).
    const others = METHODS.filter((m) => !allowed.has(m) && !fastify.hasRoute({ url, method: m }))
    if (others.length === 0) continue
    const allow = [...allowed].sort().join(', ')
    fastify.route({
      method: others,
      url,
      exposeHeadRoute: false,
      // Hidden, yet documented: its 405 shows on the operations of its path.
      schema: { hide: true, response: { 405: errorResponse('method_not_allowed') } },
      handler: async (_request, reply) => {
        reply.header('allow', allow)
        return sendError(reply, 'method_not_allowed', { message: `${url} takes ${allow} only.` })
      },
    })
  }
}

export default methodNotAllowed
