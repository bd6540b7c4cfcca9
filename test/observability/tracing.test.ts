import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { startOtlpReceiver, traceparent, type ReceivedSpan } from '../helpers/otlp-receiver.ts'

const SERVER = 2
const CLIENT = 3

/** The spans of one trace, with a way to walk it from the span of a name. */
function traceOf (spans: ReceivedSpan[], traceId: string) {
  const mine = spans.filter((s) => s.traceId === traceId)
  const byId = new Map(mine.map((s) => [s.spanId, s]))
  const named = (name: string) => mine.filter((s) => s.name === name)
  const one = (name: string) => {
    const found = named(name)
    if (found.length !== 1) throw new Error(`expected one span ${name} in the trace, got ${found.length}: ${mine.map((s) => s.name).join(', ')}`)
    return found[0]!
  }
  /** The names from a span up to the trace's root, the span's own first. */
  const path = (span: ReceivedSpan) => {
    const names = [span.name]
    for (let s = byId.get(span.parentSpanId); s; s = byId.get(s.parentSpanId)) names.push(s.name)
    return names
  }
  return { spans: mine, byId, named, one, path }
}

t.test('a checkout and a purchase are traced end to end through a real OTLP/HTTP exporter', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const { app, createSale } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'flashsale-test' })
  await createSale({ items: 2, stock_per_item: 1 })

  const checkoutParent = traceparent()
  const checkout = await app.inject({ method: 'POST', url: '/checkout?user_id=alice&id=2', headers: { traceparent: checkoutParent.header } })
  t.equal(checkout.statusCode, 200)
  const { code } = checkout.json()
  const purchaseParent = traceparent()
  const purchase = await app.inject({ method: 'POST', url: `/purchase?code=${code}`, headers: { traceparent: purchaseParent.header } })
  t.equal(purchase.statusCode, 200)

  // The batch processor exports every few seconds; both requests' spans end before they answer.
  await eventually('both request spans exported', async () =>
    [checkoutParent, purchaseParent].every((p) => receiver.spans.some((s) => s.traceId === p.traceId && s.name === 'request')))
  t.ok(receiver.paths.every((p) => p.startsWith('POST /v1/traces application/json')), 'OTLP/HTTP JSON to /v1/traces')

  t.test('checkout', async (t) => {
    const trace = traceOf(receiver.spans, checkoutParent.traceId)
    const request = trace.one('request')
    t.equal(request.parentSpanId, checkoutParent.parentId, 'the request span continues the incoming traceparent')
    t.equal(request.kind, SERVER)
    t.equal(request.service, 'flashsale-test')
    t.match(request.attributes, { 'http.route': '/checkout', 'http.request.method': 'POST', 'http.response.status_code': 200, 'url.path': '/checkout' })
    t.notOk(JSON.stringify(trace.spans).includes('alice'), 'no user id in any span')
    const script = trace.one('redis checkout')
    t.match(script.attributes, { 'db.system.name': 'redis', 'db.operation.name': 'checkout' })
    t.same(trace.path(script), ['redis checkout', 'request'])
    const command = trace.spans.find((s) => s.parentSpanId === script.spanId)
    t.ok(command, 'the script\'s Redis command is its child')
    t.match(command, { kind: CLIENT, attributes: { 'db.system.name': 'redis', 'db.query.text': /^evalsha$/i } })
    for (const s of trace.spans) {
      if (s !== request) t.ok(trace.byId.has(s.parentSpanId), `${s.name}: its parent is in the trace`)
    }
  })

  t.test('purchase', async (t) => {
    const trace = traceOf(receiver.spans, purchaseParent.traceId)
    const request = trace.one('request')
    t.equal(request.parentSpanId, purchaseParent.parentId)
    t.match(request.attributes, { 'http.route': '/purchase', 'http.response.status_code': 200, 'url.path': '/purchase' })
    t.notOk(JSON.stringify(trace.spans).includes(code.split('-')[1]), 'no purchase code in any span')

    const lock = trace.one('lock purchase')
    t.same(trace.path(lock), ['lock purchase', 'request'])
    t.match(lock.attributes, { 'flashsale.lock.type': 'purchase', 'flashsale.lock.wait_ms': Number })
    t.same(lock.events, ['lock acquired'])
    // With the lock on the data's own Redis, the script that takes it is the purchase's begin.
    t.ok(trace.spans.some((s) => s.kind === CLIENT && s.attributes['db.system.name'] === 'redis' && trace.path(s).includes('lock purchase')),
      'the lock\'s own Redis calls are inside its span')

    t.same(trace.path(trace.one('redis purchase_begin')), ['redis purchase_begin', 'lock purchase', 'request'])
    const batch = trace.one('commit batch')
    t.same(trace.path(batch), ['commit batch', 'lock purchase', 'request'])
    t.equal(batch.attributes['flashsale.batch.size'], 1)
    const insert = trace.one('postgres purchase_insert')
    t.equal(insert.parentSpanId, batch.spanId)
    t.match(insert, { kind: CLIENT, attributes: { 'db.system.name': 'postgresql', 'db.operation.name': 'purchase_insert' } })
    t.same(trace.path(trace.one('redis purchase_settle')), ['redis purchase_settle', 'lock purchase', 'request'])
  })

  t.test('the attempt drain is traced on its own, with its query', async (t) => {
    const drained = await eventually('a drain that wrote the checkout attempt', async () => {
      const insert = receiver.spans.find((s) => s.name === 'postgres attempts_insert')
      return insert && receiver.spans.find((s) => s.spanId === insert.parentSpanId)
    })
    t.equal(drained.name, 'attempt drain')
    t.equal(drained.parentSpanId, '', 'a root: no request asked for it')
  })
})

t.test('purchases committed together: the batch is in the first traced purchase\'s trace and linked from the others', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const { app, createSale } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
  await createSale({ items: 8, stock_per_item: 1 })
  const codes: string[] = []
  for (let id = 1; id <= 8; id++) {
    codes.push((await app.inject({ method: 'POST', url: `/checkout?user_id=u${id}&id=${id}` })).json().code)
  }
  // Every other caller's trace is not sampled: a batch still reaches each sampled one.
  const parents = codes.map((_, i) => traceparent(i % 2 === 1))
  const sampled = parents.filter((_, i) => i % 2 === 1)
  const replies = await Promise.all(codes.map((code, i) =>
    app.inject({ method: 'POST', url: `/purchase?code=${code}`, headers: { traceparent: parents[i]!.header } })))
  t.same(replies.map((r) => r.statusCode), codes.map(() => 200))

  await app.close()
  t.notOk(receiver.spans.some((s) => parents.some((p, i) => i % 2 === 0 && p.traceId === s.traceId)), 'nothing of the unsampled traces')
  const batches = receiver.spans.filter((s) => s.name === 'commit batch' && sampled.some((p) => p.traceId === s.traceId))
  t.ok(batches.length >= 1 && batches.length <= sampled.length, 'a batch span per batch that holds a sampled purchase')
  for (const p of sampled) {
    const own = batches.find((b) => b.traceId === p.traceId)
    const linked = batches.find((b) => b.links.some((l) => l.traceId === p.traceId))
    t.ok(Boolean(own) !== Boolean(linked), 'each purchase\'s trace holds its batch, or is linked from it (not both)')
    if (linked) {
      const lock = traceOf(receiver.spans, p.traceId).one('lock purchase')
      t.ok(linked.links.some((l) => l.spanId === lock.spanId), 'the link points at the purchase\'s lock span')
    }
  }
})

t.test('sampling: OTEL_TRACES_SAMPLER=parentbased_traceidratio follows a sampled parent and drops the rest at ratio 0', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const { app, createSale } = await buildTestApp(t, {
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/custom/traces`,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0',
  })
  await createSale({ items: 3, stock_per_item: 1 })
  const sampled = traceparent(true)
  const unsampled = traceparent(false)
  await app.inject({ method: 'POST', url: '/checkout?user_id=a&id=1', headers: { traceparent: sampled.header } })
  await app.inject({ method: 'POST', url: '/checkout?user_id=b&id=2', headers: { traceparent: unsampled.header } })
  await app.inject({ method: 'POST', url: '/checkout?user_id=c&id=3' })
  // Spans leave every 5 s; closing at once exports what is left, before the close resolves.
  await app.close()
  t.ok(receiver.spans.some((s) => s.traceId === sampled.traceId && s.name === 'request'), 'the close exported the spans still buffered')
  t.ok(receiver.paths.every((p) => p.startsWith('POST /custom/traces')), 'the traces endpoint is used as it is')
  t.equal(receiver.spans.filter((s) => s.name === 'request').length, 1, 'only the sampled parent\'s request')
  t.notOk(receiver.spans.some((s) => s.traceId === unsampled.traceId))
  t.notOk(receiver.spans.some((s) => s.name === 'attempt drain'), 'root spans of the service\'s own work: ratio 0')
})

t.test('closing exports the spans of the last drain too: tracing stops after the attempt log is drained', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const { app, createSale, sql } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER: 'always_on' })
  await createSale({ items: 1, stock_per_item: 1 })
  await app.inject({ method: 'POST', url: '/checkout?user_id=a&id=1' })
  await app.close()
  const [row] = await sql`SELECT count(*)::int AS n FROM checkout_attempts`
  t.equal(row?.n, 1, 'the attempt was drained, at the latest by the close')
  const insert = receiver.spans.find((s) => s.name === 'postgres attempts_insert')
  t.ok(insert, 'its insert\'s span was exported before the close resolved')
  t.equal(receiver.spans.find((s) => s.spanId === insert?.parentSpanId)?.name, 'attempt drain')
})
