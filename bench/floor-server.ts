import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { listeningFor } from './child.ts'

/**
 * The floor: the bare route of baseline-server.ts plus one Lua call on Redis that checks an
 * item's stock and takes a unit, the least a checkout can do. What a checkout costs beyond this
 * is the service's own (validation, the attempt log, limits, metrics, headers).
 */
const TAKE = `
local free = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if free <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
return 1`

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true })
redis.defineCommand('take', { numberOfKeys: 1, lua: TAKE })
const key = `${process.env.REDIS_KEY_PREFIX ?? 'floor'}:{floor}:stock`
const items = 10_000
const fields: (string | number)[] = []
for (let id = 1; id <= items; id++) fields.push(id, 1_000_000)
await redis.hset(key, ...fields)

const take = (redis as unknown as { take(key: string, item: string): Promise<number> }).take.bind(redis)
const app = Fastify({ logger: false })
app.post('/checkout', async (request, reply) => {
  const { user_id: userId, id } = request.query as { user_id?: string; id?: string }
  if (await take(key, String(id)) !== 1) return reply.code(409).send({ error: 'sold_out' })
  return { code: `1-${userId}`, item_id: Number(id), sale_id: 1, expires_at: '2030-01-01T00:00:00.000Z' }
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
listeningFor(app.listeningOrigin)
process.once('SIGTERM', () => {
  void app.close().then(() => redis.del(key)).finally(() => redis.disconnect())
})
