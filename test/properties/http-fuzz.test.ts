import t from 'tap'
import fc from 'fast-check'
import { buildTestApp, ADMIN_TOKEN } from '../helpers/app.js'

const PATHS = ['/checkout', '/purchase', '/sale', '/sale/items', '/admin/sales', '/metrics', '/health', '/health/live',
  '/health/ready', '/', '/checkout/', '//checkout', '/CHECKOUT', '/sale/items/1', '/admin', '/%2e%2e/etc/passwd']
const KEYS = ['user_id', 'id', 'code', 'offset', 'limit', 'user_id[]', 'id[0]', '__proto__', 'constructor', '']
const NASTY = ['', ' ', '0', '-1', '1e3', '0x10', '1.5', '9'.repeat(40), 'NaN', 'Infinity', 'null', 'true', '[]', '{}',
  '%00', '%ZZ', '%', '%%', '%u0041', '\u0000', '\uFFFF', '𝒳', '1-00000000000000000000000000000000', `1-${'a'.repeat(32)}`,
  `99999999999999999-${'f'.repeat(32)}`, 'a'.repeat(65), 'a'.repeat(5000), "' OR 1=1 --", '<script>', '../../', 'user%20id']

const value = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer().map(String),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
)
const encoded = fc.tuple(value, fc.boolean()).map(([v, raw]) => (raw ? v.replace(/[#\s?&]/g, '') : encodeURIComponent(v)))
const query = fc.array(fc.tuple(fc.constantFrom(...KEYS), encoded), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'))

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
  path: fc.oneof(fc.constantFrom(...PATHS), fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`))),
  query,
  contentType: fc.option(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/octet-stream', '*/*', ';;')),
  body: fc.option(fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 200 }), fc.constantFrom('{"items":', '\u0000', '[]',
    '{"items":1,"stock_per_item":1,"__proto__":{"x":1}}', '{"items":1e309,"stock_per_item":1}'))),
  authorization: fc.option(fc.oneof(fc.constant(`Bearer ${ADMIN_TOKEN}`), fc.string({ maxLength: 60 }))),
  accept: fc.option(fc.constantFrom('application/json', 'text/html', '*/*', 'image/png')),
})

t.test('random requests never get a 5xx nor expose internals, and the service keeps serving', async (t) => {
  const { app, createSale } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 0, RATE_LIMIT_USER_MAX: 0 })
  await createSale({ items: 20, stock_per_item: 5 })
  let sent = 0
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const headers: Record<string, string> = {}
      if (r.contentType !== null) headers['content-type'] = r.contentType
      if (r.authorization !== null) headers.authorization = r.authorization
      if (r.accept !== null) headers.accept = r.accept
      const url = r.query ? `${r.path}?${r.query}` : r.path
      const res = await app.inject({
        method: r.method as 'GET',
        url,
        headers,
        ...(r.body !== null && r.method !== 'GET' && r.method !== 'HEAD' ? { payload: r.body } : {}),
      })
      sent++
      if (res.statusCode >= 500) throw new Error(`${r.method} ${url} -> ${res.statusCode} ${res.body}`)
      if (res.statusCode >= 400 && r.method !== 'HEAD') {
        const body = res.json()
        if (typeof body.error !== 'string' || typeof body.message !== 'string') throw new Error(`no error code: ${res.body}`)
      }
      if (/\bat [\w.<>]+ \(|node_modules|\.ts:\d+|"stack"/.test(res.body)) throw new Error(`internals exposed: ${res.body}`)
    }),
    { numRuns: 1000 },
  )
  t.equal(sent, 1000, 'every generated request was answered')
  t.equal((await app.inject('/sale')).statusCode, 200, 'still serving')
})
