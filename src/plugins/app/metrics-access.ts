import fp from 'fastify-plugin'
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import { sendError } from '../../schemas/common.ts'
import { ERRORS, type ErrorCode } from '../../errors.ts'
import { bearerMatcher, WWW_AUTHENTICATE } from '../../bearer-token.ts'
import { openMetrics, OPENMETRICS_CONTENT_TYPE, wantsOpenMetrics } from '../../open-metrics.ts'

const envelope = (code: ErrorCode) => JSON.stringify({ error: code, message: ERRORS[code].message })

/**
 * Who may read /metrics. With METRICS_PORT set, /metrics is served on that port only (bind it
 * where only Prometheus reaches) and answers 404 on the buyer port. With METRICS_TOKEN set it
 * needs `Authorization: Bearer <token>`, compared in constant time. Registered before the
 * metrics plugin, so its hook guards the metrics route too.
 */
export default fp(
  async function metricsAccess (fastify) {
    const { METRICS_PORT, METRICS_TOKEN, HOST } = fastify.config
    const authorized = bearerMatcher(METRICS_TOKEN)

    const guard = async (request: FastifyRequest, reply: FastifyReply) => {
      if (METRICS_PORT > 0) return sendError(reply, 'not_found')
      if (METRICS_TOKEN && !authorized(request.headers.authorization)) {
        reply.header('www-authenticate', WWW_AUTHENTICATE)
        return sendError(reply, 'unauthorized')
      }
    }
    // On the /metrics route alone: no other request pays for the check.
    fastify.addHook('onRoute', (route: RouteOptions) => {
      if (route.url !== '/metrics') return
      route.onRequest = [...[route.onRequest ?? []].flat(), guard] as RouteOptions['onRequest']
    })

    if (METRICS_PORT === 0) return
    let server: Server | undefined
    fastify.addHook('onReady', async () => {
      server = createServer((req, res) => {
        const allowed = !METRICS_TOKEN || authorized(req.headers.authorization)
        if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics' || !allowed) {
          res.writeHead(allowed ? 404 : 401, allowed
            ? { 'content-type': 'application/json' }
            : { 'content-type': 'application/json', 'www-authenticate': WWW_AUTHENTICATE })
          res.end(envelope(allowed ? 'not_found' : 'unauthorized'))
          return
        }
        // The same registry /metrics serves on the buyer port, read directly.
        const { registry } = fastify.meters
        const open = wantsOpenMetrics(req.headers.accept)
        const rendered = open ? openMetrics(registry) : registry.metrics()
        rendered.then(
          (text) => {
            res.writeHead(200, { 'content-type': open ? OPENMETRICS_CONTENT_TYPE : registry.contentType })
            res.end(text)
          },
          () => {
            res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' })
            res.end(envelope('unavailable'))
          }
        )
      })
      server.listen(METRICS_PORT, HOST)
      await once(server, 'listening')
      fastify.log.info({ port: METRICS_PORT }, 'metrics served on their own port')
    })
    fastify.addHook('onClose', async () => {
      if (!server) return
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    })
  },
  { name: 'metrics-access', dependencies: ['config'], fastify: '5.x' }
)
