import type { FastifyRequest, RouteOptions } from 'fastify'

// Each route declares its own policy in its `config`; the plugins that enforce a policy read it
// there, whatever the route's path:
// - `rateLimit: false` (@fastify/rate-limit's own key): not counted against the per-address limit;
// - `shed: false`: answered even under pressure, when load shedding refuses the rest;
// - `auth: 'operator'`: only with an operator token (ADMIN_TOKEN or one of ADMIN_TOKENS);
// - `whenShed`: what the route records of a request load shedding refused (checkout: the attempt).
declare module 'fastify' {
  interface FastifyContextConfig {
    shed?: false
    auth?: 'operator'
    whenShed?: (request: FastifyRequest) => void
  }
}

/** Neither rate limited nor shed: probes and scrapers must get through when the service is busiest. */
export const ALWAYS_SERVED = { rateLimit: false, shed: false } as const

/**
 * The exemptions all of a path's routes share, for another route on the same path (the 405 of
 * its other methods): exempt only from what every one of them is exempt from.
 */
export function sharedExemptions (routes: readonly Pick<RouteOptions, 'config'>[]): { rateLimit?: false; shed?: false } {
  const every = (exempt: (config: RouteOptions['config']) => boolean) => routes.length > 0 && routes.every((r) => exempt(r.config))
  return {
    ...(every((c) => c?.rateLimit === false) ? { rateLimit: false } : {}),
    ...(every((c) => c?.shed === false) ? { shed: false } : {}),
  }
}
