import type { FastifyInstance, FastifyPluginAsync, HTTPMethods, RouteOptions } from 'fastify'
import { sharedExemptions } from '../route-policy.ts'
import { errorResponse, sendError } from '../schemas/common.ts'

const METHODS: HTTPMethods[] = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT']

/** Collects every route registered from now on, by path. */
export function routeMethods (fastify: FastifyInstance): Map<string, RouteOptions[]> {
  const byPath = new Map<string, RouteOptions[]>()
  fastify.addHook('onRoute', (route) => {
    byPath.set(route.url, [...byPath.get(route.url) ?? [], route])
  })
  return byPath
}

/**
 * A known path called with another method answers 405 `method_not_allowed` with `Allow`, not
 * "no such route". These are real routes, so they show in the route histogram like any other.
 * Registered after every other route, from the routes `routeMethods` collected, with the
 * exemptions of the path's routes (a probe's 405 is not rate limited either).
 */
const methodNotAllowed: FastifyPluginAsync<{ methods: Map<string, RouteOptions[]> }> = async (fastify, { methods }) => {
  for (const [url, routes] of [...methods]) {
    const allowed = new Set(routes.flatMap((r) => [r.method].flat()))
    // Some plugins add routes the onRoute hook never reports (the docs' GET of `/docs/`).
    const others = METHODS.filter((m) => !allowed.has(m) && !fastify.hasRoute({ url, method: m }))
    if (others.length === 0) continue
    const allow = [...allowed].sort().join(', ')
    fastify.route({
      method: others,
      url,
      exposeHeadRoute: false,
      // Read at this point: other plugins' onRoute hooks may have declared a route's policy after it was collected.
      config: sharedExemptions(routes),
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
