import Fastify from 'fastify'
import { listeningFor } from './child.ts'

/**
 * The baseline: a bare Fastify route of the same shape as checkout (POST, query string, small
 * JSON answer) with no validation, no logging and no I/O. What the framework alone costs here.
 */
const app = Fastify({ logger: false })
app.post('/checkout', async (request) => {
  const { user_id: userId, id } = request.query as { user_id?: string; id?: string }
  return { code: `1-${userId}`, item_id: Number(id), sale_id: 1, expires_at: '2030-01-01T00:00:00.000Z' }
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
listeningFor(app.listeningOrigin)
process.once('SIGTERM', () => { void app.close() })
