import t, { type Test } from 'tap'
import Fastify, { type HTTPMethods } from 'fastify'
import { Redis } from 'ioredis'
import { Validator } from '@seriousme/openapi-schema-validator'
import app from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { ERRORS, type ErrorCode } from '../../src/errors.ts'
import { serverOptions } from '../../src/server.ts'
import { ADMIN_TOKEN, buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { testDatabaseUrl, TEST_REDIS_URL } from '../helpers/services.ts'
import { uniqueName } from '../../kit/scratch-servers.ts'

/**
 * The codes each operation answers, from the contract. A new operation needs its line here;
 * a code its route does not declare fails the test.
 */
const EXPECTED: Record<string, ErrorCode[]> = {
  'POST /checkout': ['invalid_request', 'item_not_found', 'sold_out', 'sale_not_active', 'user_limit_reached',
    'rate_limited', 'unavailable', 'internal_error', 'method_not_allowed'],
  'POST /purchase': ['invalid_request', 'code_not_found', 'code_expired', 'purchase_in_progress', 'rate_limited',
    'unavailable', 'internal_error', 'method_not_allowed'],
  'GET /sale': ['sale_not_active', 'rate_limited', 'unavailable', 'internal_error', 'method_not_allowed'],
  'GET /sale/items': ['invalid_request', 'sale_not_active', 'rate_limited', 'unavailable', 'internal_error',
    'method_not_allowed'],
  'POST /admin/sales': ['invalid_request', 'unauthorized', 'payload_too_large', 'unsupported_media_type',
    'rate_limited', 'unavailable', 'internal_error', 'method_not_allowed'],
  'GET /admin/sales': ['invalid_request', 'unauthorized', 'rate_limited', 'unavailable', 'internal_error', 'method_not_allowed'],
  'GET /admin/sales/{id}': ['invalid_request', 'unauthorized', 'sale_not_found', 'rate_limited', 'unavailable',
    'internal_error', 'method_not_allowed'],
  'POST /admin/sales/{id}/end': ['invalid_request', 'unauthorized', 'sale_not_found', 'invalid_transition',
    'payload_too_large', 'unsupported_media_type', 'rate_limited', 'unavailable', 'internal_error', 'method_not_allowed'],
  'DELETE /admin/sales/{id}': ['invalid_request', 'unauthorized', 'sale_not_found', 'invalid_transition',
    'payload_too_large', 'unsupported_media_type', 'rate_limited', 'unavailable', 'internal_error', 'method_not_allowed'],
  'GET /admin/sales/{id}/purchases': ['invalid_request', 'unauthorized', 'sale_not_found', 'rate_limited', 'unavailable',
    'internal_error', 'method_not_allowed'],
  'GET /admin/audit': ['invalid_request', 'unauthorized', 'rate_limited', 'unavailable', 'internal_error', 'method_not_allowed'],
  'GET /health': ['method_not_allowed'],
  'GET /health/live': ['method_not_allowed'],
  'GET /health/ready': ['method_not_allowed'],
  'GET /metrics': ['unauthorized', 'not_found'],
}

/** The contract answers these codes with another status than their own on these operations. */
const RESTATUSED: Record<string, Partial<Record<ErrorCode, number>>> = {
  'GET /sale': { sale_not_active: 404 },
  'GET /sale/items': { sale_not_active: 404 },
}

const HEADERS: Record<string, string> = { 401: 'WWW-Authenticate', 405: 'Allow', 429: 'Retry-After', 503: 'Retry-After' }

interface Response {
  description: string
  headers?: Record<string, unknown>
  content?: Record<string, { schema: { $ref?: string; allOf?: [{ $ref: string }, { properties: { error: { enum: string[] } } }] } }>
}
interface Operation {
  operationId?: string
  summary?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  parameters?: { name: string; in: string; required?: boolean }[]
  requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> }
  responses: Record<string, Response>
}
interface Document {
  info: { description: string }
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, { type: string; scheme: string }> }
}

/** The app as the server builds it, with every route it registers (`routes` mirrors `src/`). */
async function appWithRoutes (t: Test) {
  const dbUrl = await testDatabaseUrl(t)
  const config = loadConfig({}, {
    REDIS_URL: TEST_REDIS_URL,
    REDLOCK_REDIS_URLS: [TEST_REDIS_URL],
    DATABASE_URL: dbUrl,
    REDIS_KEY_PREFIX: uniqueName('t').replace(/_/g, '-'),
    ADMIN_TOKEN,
    SALE_SCHEDULE: 'off',
    LOG_LEVEL: 'silent',
  })
  const fastify = Fastify(serverOptions(config))
  const routes: { methods: HTTPMethods[]; url: string; hidden: boolean; statuses: string[] }[] = []
  fastify.addHook('onRoute', (route) => {
    const { schema } = route
    routes.push({ methods: [route.method].flat(), url: route.url, hidden: schema?.hide === true, statuses: Object.keys(schema?.response ?? {}) })
  })
  const redis = new Redis(TEST_REDIS_URL)
  t.teardown(async () => {
    await fastify.close()
    const keys = await redis.keys(`${config.REDIS_KEY_PREFIX}:*`)
    if (keys.length) await redis.del(...keys)
    await redis.quit()
  })
  await fastify.register(app, { config })
  await fastify.ready()
  return { fastify, routes }
}

const ERROR_BODY = '#/components/schemas/ErrorBody'

/**
 * The codes each error status of an operation names, as `{status: codes}`; an ErrorBody that
 * names none has an empty list. A status with a body of its own (a failing health check) has none.
 */
function errorCodes (operation: Operation): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [status, response] of Object.entries(operation.responses)) {
    const schema = response.content?.['application/json']?.schema
    if (Number(status) < 400 || !schema) continue
    if (schema.allOf?.[0].$ref === ERROR_BODY) out[status] = schema.allOf[1].properties.error.enum
    else if (schema.$ref === ERROR_BODY) out[status] = []
  }
  return out
}

t.test('the document has every route, each with the error codes it answers', async (t) => {
  const { fastify, routes } = await appWithRoutes(t)
  const res = await fastify.inject('/docs/json')
  t.equal(res.statusCode, 200)
  const doc = res.json() as Document
  t.same((await new Validator().validate(doc as never)).errors, undefined, 'a valid OpenAPI document')

  const documented = new Set<string>()
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) documented.add(`${method.toUpperCase()} ${path}`)
  }
  // Hidden are the docs' own routes, and those answering a known path's other methods with 405.
  for (const r of routes.filter((r) => r.hidden)) {
    t.ok(r.url.startsWith('/docs') || r.statuses.join() === '405', `${r.url} (${r.methods.join()}) is hidden on purpose`)
  }
  // Path parameters as OpenAPI writes them: `/admin/sales/:id` is `/admin/sales/{id}`.
  const served = routes.filter((r) => !r.hidden)
    .flatMap((r) => r.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${r.url.replace(/:(\w+)/g, '{$1}')}`))
  t.ok(served.includes('POST /checkout') && served.includes('GET /metrics'), 'the routes are all seen')
  for (const route of served) t.ok(documented.has(route), `${route} is documented`)
  for (const operation of documented) t.ok(served.includes(operation), `${operation} is a route`)

  const named = new Set<string>()
  for (const operation of documented) {
    const [method, path] = operation.split(' ') as [string, string]
    const op = doc.paths[path]![method.toLowerCase()]!
    t.ok(op.operationId && op.summary && op.tags?.length, `${operation}: operationId, summary and tag`)
    t.ok(EXPECTED[operation], `${operation}: its codes are in EXPECTED`)
    const byStatus = errorCodes(op)
    for (const [status, codes] of Object.entries(byStatus)) {
      t.ok(codes.length > 0, `${operation} ${status}: an ErrorBody naming its codes`)
      for (const code of codes) {
        named.add(code)
        const expectedStatus = RESTATUSED[operation]?.[code as ErrorCode] ?? ERRORS[code as ErrorCode]?.status
        t.equal(Number(status), expectedStatus, `${operation}: ${code} under ${expectedStatus}`)
        t.match(op.responses[status]!.description, `\`${code}\``, `${operation} ${status}: ${code} described`)
      }
      if (HEADERS[status]) t.ok(op.responses[status]!.headers?.[HEADERS[status]], `${operation} ${status}: ${HEADERS[status]}`)
      // A code that says "retry" under another status carries Retry-After too; no other does.
      const retry = codes.includes('purchase_in_progress') || status === '429' || status === '503'
      t.equal(Boolean(op.responses[status]!.headers?.['Retry-After']), retry, `${operation} ${status}: Retry-After ${retry ? 'documented' : 'absent'}`)
    }
    const codes = Object.values(byStatus).flat()
    for (const code of EXPECTED[operation] ?? []) t.ok(codes.includes(code), `${operation} documents ${code}`)
  }

  // What no route answers is answered before routing: the document lists it once.
  const anyRequest = new Set([...doc.info.description.matchAll(/^\| \d{3} \| `(\w+)` \|/gm)].map((m) => m[1]))
  for (const code of Object.keys(ERRORS)) t.ok(named.has(code) || anyRequest.has(code), `${code} is in the document`)
  t.ok(doc.components.schemas.ErrorBody, 'ErrorBody is a shared schema')
})

t.test('inputs, content types and security are documented', async (t) => {
  const { app } = await buildTestApp(t)
  const doc = (await app.inject('/docs/json')).json() as Document
  const op = (path: string, method: string) => doc.paths[path]![method]!
  const params = (o: Operation) => Object.fromEntries((o.parameters ?? []).map((p) => [p.name, p]))

  t.match(params(op('/checkout', 'post')), { user_id: { in: 'query', required: true }, id: { in: 'query' }, item_id: { in: 'query' } })
  t.match(params(op('/purchase', 'post')), { code: { in: 'query', required: true } })
  t.match(params(op('/sale/items', 'get')), { offset: { in: 'query' }, limit: { in: 'query' } })
  for (const path of ['/checkout', '/purchase']) {
    t.same(Object.keys(op(path, 'post').responses[200]!.content!).sort(), ['application/json', 'text/plain'], `${path}: JSON or text`)
    t.notOk(op(path, 'post').requestBody, `${path}: no body`)
  }
  const create = op('/admin/sales', 'post')
  t.same(Object.keys(create.requestBody!.content), ['application/json'], 'the operator API takes JSON')
  t.match(create.requestBody!.content['application/json']!.schema.properties, { items: {}, stock_per_item: {}, starts_at: {} })
  t.same(create.security, [{ operatorToken: [] }])
  t.match(doc.components.securitySchemes.operatorToken, { type: 'http', scheme: 'bearer' })
  t.same(Object.keys(op('/metrics', 'get').responses[200]!.content!), ['text/plain', 'application/openmetrics-text'])
  t.same(Object.keys(op('/admin/sales/{id}/purchases', 'get').responses[200]!.content!), ['text/csv', 'application/x-ndjson'], 'the export: CSV or NDJSON')
  t.match(params(op('/admin/sales', 'get')), { offset: { in: 'query' }, limit: { in: 'query' } })
  t.match(params(op('/admin/audit', 'get')), { offset: { in: 'query' }, limit: { in: 'query' }, sale_id: { in: 'query' } })
  for (const [path, method] of [['/admin/sales', 'get'], ['/admin/sales/{id}', 'get'], ['/admin/sales/{id}/end', 'post'],
    ['/admin/sales/{id}', 'delete'], ['/admin/sales/{id}/purchases', 'get'], ['/admin/audit', 'get']] as const) {
    t.same(op(path, method).security, [{ operatorToken: [] }], `${method} ${path}: the operator token`)
    if (path.includes('{id}')) t.match(params(op(path, method)), { id: { in: 'path', required: true } })
  }
  t.match(doc.components.securitySchemes.metricsToken, { type: 'http', scheme: 'bearer' })
})

t.test('/docs serves the UI from the package, with a CSP of its own; the API keeps its own', async (t) => {
  const { app } = await buildTestApp(t)
  const page = await app.inject('/docs')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /swagger-ui-bundle\.js/)
  for (const asset of ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-ui.css', '/docs/static/swagger-initializer.js']) {
    const res = await app.inject(asset)
    t.equal(res.statusCode, 200, asset)
    t.ok(res.body.length > 100, `${asset} has content`)
  }
  t.match((await app.inject('/docs/static/swagger-initializer.js')).body, /resolveUrl\('\.\/json'\)/, 'the UI reads /docs/json')

  for (const url of ['/docs', '/docs/json', '/docs/static/swagger-ui-bundle.js']) {
    const csp = String((await app.inject(url)).headers['content-security-policy'])
    t.match(csp, /default-src 'none'/, `${url}: nothing by default`)
    t.match(csp, /script-src 'self'(;|$)/, `${url}: scripts from itself`)
    t.match(csp, /style-src 'self'(;|$)/, `${url}: styles from itself`)
    t.notMatch(csp, /unsafe-|https?:|\*/, `${url}: nothing inline, nothing from elsewhere`)
  }
  const api = await app.inject('/sale')
  t.equal(api.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", 'the API keeps its strict CSP')
  t.equal(page.headers['x-content-type-options'], 'nosniff', 'and the UI the other security headers')
})

t.test('the docs are neither rate limited nor shed', async (t) => {
  const limited = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 2, RATE_LIMIT_USER_MAX: 0 })
  const codes = async (url: string) => {
    const out = []
    for (let i = 0; i < 4; i++) out.push((await limited.app.inject(url)).statusCode)
    return out
  }
  t.same(await codes('/sale'), [404, 404, 429, 429], 'a buyer route is limited')
  t.same(await codes('/docs/json'), [200, 200, 200, 200], 'the document is not')
  t.same(await codes('/docs'), [200, 200, 200, 200], 'the UI is not')

  // A heap limit of one byte puts the process under pressure from the first sample on.
  const shedding = await buildTestApp(t, { LOAD_SHED_HEAP_USED_BYTES: 1 })
  await eventually('/sale shed', async () => (await shedding.app.inject('/sale')).statusCode === 503)
  t.equal((await shedding.app.inject('/docs')).statusCode, 200, 'the UI answers under pressure')
  t.equal((await shedding.app.inject('/docs/json')).statusCode, 200, 'the document too')
})
