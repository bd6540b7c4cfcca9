import t from 'tap'
import { connect, type AddressInfo } from 'node:net'
import { readMetrics } from '../kit/operator-client.ts'
import { buildTestApp, ADMIN_TOKEN } from './helpers/app.ts'
import { series } from './helpers/metrics.ts'

/** Sends raw bytes on a connection of its own; resolves with the status, headers and body. */
async function raw (port: number, request: Buffer | string) {
  const socket = connect(port, '127.0.0.1')
  socket.write(request)
  let text = ''
  for await (const chunk of socket) text += chunk
  const [head = '', ...rest] = text.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), head, body: rest.join('\r\n\r\n') }
}

const ENVELOPE = { error: String, message: String }

t.test('every answer of the framework itself is in the envelope, with a contract code', async (t) => {
  const { app, createSale, sql } = await buildTestApp(t)
  await createSale({ items: 3, stock_per_item: 1 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const close = 'Host: x\r\nConnection: close\r\n\r\n'

  const badUrl = await raw(port, `GET /sale%zz HTTP/1.1\r\n${close}`)
  t.equal(badUrl.status, 400, 'a URL that does not decode')
  t.match(JSON.parse(badUrl.body), { error: 'invalid_request', message: /percent/ })

  const big = await raw(port, `GET /sale HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n${close}`)
  t.equal(big.status, 431, 'headers too large')
  t.same(JSON.parse(big.body), { error: 'headers_too_large', message: 'The request headers are too large.' })

  // A code pasted with a raw ellipsis (UTF-8 bytes in the URL): Node's parser refuses the request line.
  const pasted = await raw(port, Buffer.concat([Buffer.from('POST /purchase?code=3-5f0c'), Buffer.from('…'), Buffer.from(` HTTP/1.1\r\n${close}`)]))
  t.equal(pasted.status, 400, 'a request line with raw non-ASCII bytes')
  t.match(JSON.parse(pasted.body), { error: 'invalid_request', message: /percent-encode/ })
  const refused = await raw(port, Buffer.concat([Buffer.from('POST /checkout?user_id=zo'), Buffer.from('é'), Buffer.from(`&id=1 HTTP/1.1\r\n${close}`)]))
  t.equal(refused.status, 400, 'a checkout the parser refuses')
  await app.sale.attempts.drain()
  const [stored] = await sql<{ user_id: string; result: string }[]>`SELECT user_id, result FROM checkout_attempts`
  t.match(stored, { result: 'invalid', user_id: /^zo/ }, 'is still a stored attempt')

  const admin = (body: string, type = 'application/json') => app.inject({
    method: 'POST',
    url: '/admin/sales',
    payload: body,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': type },
  })
  t.match((await admin('{"items":')).json(), { error: 'invalid_request', message: 'The body is not valid JSON.' })
  t.match((await admin('')).json(), { error: 'invalid_request', message: /empty/ })
  const text = await admin('items=1', 'text/plain')
  t.same([text.statusCode, text.json().error], [415, 'unsupported_media_type'])
  const large = await admin(JSON.stringify({ items: 1, stock_per_item: 1, pad: 'x'.repeat(20_000) }))
  t.same([large.statusCode, large.json().error], [413, 'payload_too_large'])
  const coerced = await admin('{"items":"10","stock_per_item":1}')
  t.same([coerced.statusCode, coerced.json().error], [400, 'invalid_request'], 'the operator API takes no number as a string')
})

t.test('a known path with another method answers 405 with Allow, and is measured', async (t) => {
  const { app, send } = await buildTestApp(t)
  for (const [method, url, allow] of [
    ['GET', '/checkout', 'POST'], ['PUT', '/purchase?code=x', 'POST'], ['DELETE', '/sale', 'GET, HEAD'],
    ['POST', '/sale/items', 'GET, HEAD'], ['PUT', '/admin/sales', 'GET, HEAD, POST'], ['GET', '/admin/sales/1/end', 'POST'],
    ['PATCH', '/admin/sales/1', 'DELETE, GET, HEAD'], ['POST', '/health', 'GET, HEAD'],
    ['POST', '/metrics', 'GET'], ['DELETE', '/docs/json', 'GET, HEAD'],
  ] as const) {
    const res = await app.inject({ method, url })
    t.equal(res.statusCode, 405, `${method} ${url}`)
    t.equal(res.headers.allow, allow, `${method} ${url}: Allow`)
    t.match(res.json(), { error: 'method_not_allowed', message: String })
  }
  t.equal((await app.inject('/nowhere')).json().error, 'not_found', 'an unknown path is still 404')
  const measured = series(await readMetrics(send), 'http_request_duration_seconds_count', { method: 'GET', route: '/checkout', status_code: '405' })
  t.equal(measured, 1, 'in the route histogram')
})

t.test('a 401 names its scheme, and the scheme is case-insensitive', async (t) => {
  const { app } = await buildTestApp(t)
  const create = (authorization?: string) => app.inject({
    method: 'POST', url: '/admin/sales', payload: { items: 1, stock_per_item: 1 }, headers: authorization ? { authorization } : {},
  })
  const refused = await create()
  t.equal(refused.statusCode, 401)
  t.match(refused.json(), ENVELOPE)
  t.equal(refused.headers['www-authenticate'], 'Bearer realm="flashsale"')
  for (const scheme of ['bearer', 'BEARER', 'Bearer']) t.equal((await create(`${scheme} ${ADMIN_TOKEN}`)).statusCode, 201, scheme)
})
