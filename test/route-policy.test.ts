import t from 'tap'
import type { FastifyContextConfig, FastifyInstance } from 'fastify'
import { ALWAYS_SERVED } from '../src/route-policy.ts'
import { ADMIN_TOKEN, buildTestApp } from './helpers/app.ts'
import { eventually } from './helpers/eventually.ts'

/** Routes of the test's own, on paths no plugin knows: only their `config` says what they are. */
function probeRoutes (app: FastifyInstance) {
  app.get('/test-probe', { config: ALWAYS_SERVED }, async () => ({ ok: true }))
  app.get('/test-plain', async () => ({ ok: true }))
  app.get('/test-operator', { config: { auth: 'operator' } }, async () => ({ ok: true }))
}

t.test('the rate limiter reads a route\'s config, not its path', async (t) => {
  const { app } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 2, RATE_LIMIT_USER_MAX: 0 }, probeRoutes)
  const codes = async (url: string) => {
    const out = []
    for (let i = 0; i < 4; i++) out.push((await app.inject({ url, remoteAddress: '203.0.113.9' })).statusCode)
    return out
  }
  t.same(await codes('/test-plain'), [200, 200, 429, 429], 'a route that declares nothing is limited')
  t.same(await codes('/test-probe'), [200, 200, 200, 200], 'one that declares rateLimit: false is not')
})

t.test('load shedding reads a route\'s config, not its path', async (t) => {
  // A heap limit of one byte puts the process under pressure from the first sample on.
  const { app } = await buildTestApp(t, { LOAD_SHED_HEAP_USED_BYTES: 1 }, probeRoutes)
  await eventually('/test-plain shed', async () => (await app.inject('/test-plain')).statusCode === 503)
  t.equal((await app.inject('/test-probe')).statusCode, 200, 'a route that declares shed: false answers under pressure')
})

t.test('operator auth reads a route\'s config, not its path', async (t) => {
  const { app } = await buildTestApp(t, {}, probeRoutes)
  const without = await app.inject('/test-operator')
  t.equal(without.statusCode, 401, 'without the token: 401')
  t.equal(without.headers['www-authenticate'], 'Bearer realm="flashsale"')
  t.equal((await app.inject({ url: '/test-operator', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).statusCode, 200, 'with it: through')
  t.equal((await app.inject('/test-plain')).statusCode, 200, 'a route that declares nothing needs no token')
})

t.test('the service\'s own routes declare their policy', async (t) => {
  let seen: FastifyContextConfig | undefined
  const { app } = await buildTestApp(t, {}, (app) => {
    app.addHook('onRequest', async (request) => { seen = request.routeOptions.config })
  })
  const declared = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string) => {
    seen = undefined
    await app.inject({ method, url })
    return seen as FastifyContextConfig | undefined
  }
  for (const url of ['/health', '/health/live', '/health/ready', '/metrics']) {
    t.match(await declared('GET', url), { rateLimit: false, shed: false }, `GET ${url}: neither limited nor shed`)
    t.match(await declared('POST', url), { rateLimit: false, shed: false }, `its 405 too (POST ${url})`)
  }
  const checkout = await declared('POST', '/checkout')
  t.match(checkout, { rateLimit: false }, 'POST /checkout: limited by its script, not by the limiter')
  t.not(checkout?.shed, false, 'and shed like any buyer route')
  const purchase = await declared('POST', '/purchase')
  t.match(purchase, { rateLimit: false }, 'POST /purchase: limited by its first script, not by the limiter')
  t.not(purchase?.shed, false, 'and shed like any buyer route')
  t.match(await declared('POST', '/admin/sales'), { auth: 'operator' }, 'POST /admin/sales: operator only')
  for (const [method, url] of [['GET', '/admin/sales'], ['GET', '/admin/sales/1'], ['POST', '/admin/sales/1/end'],
    ['DELETE', '/admin/sales/1'], ['GET', '/admin/sales/1/purchases'], ['GET', '/admin/audit']] as const) {
    t.match(await declared(method, url), { auth: 'operator' }, `${method} ${url}: operator only`)
  }
  t.not((await declared('PUT', '/admin/sales'))?.auth, 'operator', 'its 405 asks for no token (it reveals only Allow)')
  t.not((await declared('GET', '/sale'))?.rateLimit, false, 'GET /sale: limited')
})
