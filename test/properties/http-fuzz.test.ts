import t from 'tap'
import fc from 'fast-check'
import { buildTestApp, ADMIN_TOKEN } from '../helpers/app.ts'

const PATHS = ['/checkout', '/purchase', '/sale', '/sale/items', '/admin/sales', '/metrics', '/health', '/health/live',
  '/health/ready', '/', '/checkout/', '//checkout', '/CHECKOUT', '/sale/items/1', '/admin', '/%2e%2e/etc/passwd']
const KEYS = ['user_id', 'id', 'code', 'offset', 'limit', 'user_id[]', 'id[0]', '__proto__', 'constructor', '']
const NASTY = ['', ' ', '0', '-1', '1e3', '0x10', '1.5', '9'.repeat(40), 'NaN', 'Infinity', 'null', 'true', '[]', '{}',
  '%00', '%ZZ', '%', '%%', '%u0041', '\u0000', '\uFFFF', '𝒳', '1-00000000000000000000000000000000', `1-${'a'.repeat(32)}`,
  `99999999999999999-${'f'.repeat(32)}`, 'a'.repeat(65), 'a'.repeat(5000), "' OR 1=1 --", '<script>', '../../', 'user%20id',
  '|', 'a|b|c', 'u|1|success|x|1', '\t', '\r\n']
/** Bytes that are no text at all, sent as they are: invalid UTF-8, lone surrogates, NUL. */
const RAW_BYTES = ['%FF', '%C0%AF', '%ED%A0%80', '%E2%82', 'a%00b', '%00%00', '%F4%90%80%80', `${'%00'.repeat(300)}`]

const value = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer().map(String),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)
)
const encoded = fc.oneof(
  fc.tuple(value, fc.boolean()).map(([v, raw]) => (raw ? v.replace(/[#\s?&]/g, '') : encodeURIComponent(v))),
  fc.constantFrom(...RAW_BYTES)
)
const query = fc.array(fc.tuple(fc.constantFrom(...KEYS), encoded), { maxLength: 5 })
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'))

const contentType = fc.option(fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/octet-stream', '*/*', ';;', ''))
const body = fc.option(fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 200 }), fc.constantFrom('{"items":', '\u0000', '[]',
  '{"items":1,"stock_per_item":1,"__proto__":{"x":1}}', '{"items":1e309,"stock_per_item":1}', '')))

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
  path: fc.oneof(fc.constantFrom(...PATHS), fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`))),
  query,
  contentType,
  body,
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
    { numRuns: 1000 }
  )
  t.equal(sent, 1000, 'every generated request was answered')

  t.equal((await app.inject('/sale')).statusCode, 200, 'still serving')
})

/** Often a valid checkout (then random extras or damage), often one hostile field among valid ones. */
const checkoutQuery = fc.tuple(
  fc.option(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).map((u) => `user_id=${u}`), { freq: 4 }),
  fc.option(fc.tuple(fc.constantFrom('id', 'item_id'), fc.integer({ min: 1, max: 25 })).map(([k, i]) => `${k}=${i}`), { freq: 4 }),
  fc.array(fc.tuple(fc.constantFrom('user_id', 'id', 'item_id', 'x'), encoded), { maxLength: 3 })
).map(([user, item, extras]) => [user, item, ...extras.map(([k, v]) => `${k}=${v}`)].filter(Boolean).join('&'))

t.test('every checkout attempt is stored exactly once, whatever bytes and body it carries', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t, { RATE_LIMIT_IP_MAX: 0, RATE_LIMIT_USER_MAX: 0 })
  await createSale({ items: 20, stock_per_item: 1_000 })
  let sent = 0
  const statuses = new Set<number>()
  await fc.assert(
    fc.asyncProperty(fc.record({ query: checkoutQuery, contentType, body }), async (r) => {
      const headers: Record<string, string> = {}
      if (r.contentType !== null) headers['content-type'] = r.contentType
      const res = await app.inject({
        method: 'POST', url: `/checkout?${r.query}`, headers, ...(r.body !== null ? { payload: r.body } : {}),
      })
      sent++
      statuses.add(res.statusCode)
      if (res.statusCode >= 500) throw new Error(`POST /checkout?${r.query} -> ${res.statusCode} ${res.body}`)
    }),
    { numRuns: 500 }
  )
  await app.sale.attempts.drain()
  const [stored] = await sql<{ rows: number; dead: number }[]>`
    SELECT (SELECT count(*)::int FROM checkout_attempts) AS rows, (SELECT count(*)::int FROM checkout_attempts_dead_letter) AS dead`
  t.ok(statuses.has(200) && statuses.has(400), `valid and invalid requests among them (${[...statuses].sort()})`)
  t.equal(stored!.rows + stored!.dead, sent, `every attempt stored exactly once (${stored!.dead} as dead letters)`)
  const [unkeyed] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts WHERE attempt_key IS NULL`
  t.equal(unkeyed!.n, 0, 'each under a key of its own')
})
