import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { RouteOptions } from 'fastify'
import { ALWAYS_SERVED } from '../../route-policy.ts'
import { OPENAPI, REF_RESOLVER, openapiTransforms } from '../../schemas/openapi.ts'

export const DOCS_PREFIX = '/docs'

/**
 * The API's own CSP is `default-src 'none'`; the UI needs its scripts, styles and the
 * document from this origin, and images inlined by its stylesheet. Nothing from elsewhere.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ')

const isDocs = (url: string) => url === DOCS_PREFIX || url.startsWith(`${DOCS_PREFIX}/`)

/**
 * The OpenAPI document, built from the route schemas. Registered before every route, so that
 * it sees them all, and before the security and load-shedding plugins, so that its onRoute hook
 * comes first: the documentation is a page for people, not a buyer route, so its routes (which
 * @fastify/swagger-ui adds) are declared in their `config` neither rate limited nor shed.
 */
export default fp(
  async function openapi (fastify) {
    fastify.addHook('onRoute', (route: RouteOptions) => {
      if (!isDocs(route.url)) return
      route.config = { ...route.config, ...ALWAYS_SERVED }
    })
    await fastify.register(swagger, { openapi: OPENAPI as never, refResolver: REF_RESOLVER, ...openapiTransforms() })
  },
  { name: 'openapi', fastify: '5.x' }
)

/**
 * The UI at /docs and the document at /docs/json, from the npm package's own assets. Registered
 * after the security plugin: its CSP replaces the API's on these routes only.
 */
export const docsUi = fp(
  async function docsUi (fastify) {
    await fastify.register(swaggerUi, {
      routePrefix: DOCS_PREFIX,
      staticCSP: DOCS_CONTENT_SECURITY_POLICY,
      uiConfig: { deepLinking: true, validatorUrl: null },
    })
  },
  { name: 'docs-ui', dependencies: ['openapi', 'security'], fastify: '5.x' }
)
