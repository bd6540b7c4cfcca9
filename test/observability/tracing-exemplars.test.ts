import t from 'tap'
import { parseMetrics } from '../../kit/operator-client.ts'
import { buildTestApp } from '../helpers/app.ts'
import { freePort } from '../helpers/free-port.ts'
import { startOtlpReceiver, traceparent } from '../helpers/otlp-receiver.ts'

const OPENMETRICS = 'application/openmetrics-text; version=1.0.0; charset=utf-8'
// What Prometheus sends by default: OpenMetrics first, the text format as a fallback.
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,' +
  'text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
const EXEMPLAR = / # \{trace_id="([0-9a-f]{32})"\} (\S+) (\d+(?:\.\d+)?)$/

/** The names of an exposition's samples, exemplars set aside. */
const sampleNames = (text: string) => new Set(parseMetrics(text.replace(/ # \{.*$/gm, '')).map((s) => s.name))

t.test('the route histogram carries trace_id exemplars in the OpenMetrics exposition, only there', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const metricsPort = await freePort()
  const { app, createSale } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, METRICS_PORT: metricsPort })
  await createSale({ items: 2, stock_per_item: 1 })
  const unsampled = traceparent(false)
  const sampled = traceparent(true)
  await app.inject({ method: 'POST', url: '/checkout?user_id=a&id=1', headers: { traceparent: unsampled.header } })
  await app.inject({ method: 'POST', url: '/checkout?user_id=b&id=2', headers: { traceparent: sampled.header } })

  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { accept: PROMETHEUS_ACCEPT } })
  t.equal(res.headers.get('content-type'), OPENMETRICS)
  const open = await res.text()
  t.ok(open.endsWith('# EOF\n'), 'an OpenMetrics exposition ends with # EOF')
  const exemplars = open.split('\n').filter((l) => EXEMPLAR.test(l))
  const checkout = exemplars.filter((l) => l.startsWith('http_request_duration_seconds_bucket{') && l.includes('route="/checkout"'))
  t.equal(checkout.length, 1, 'the /checkout bucket the sampled request fell in has its exemplar')
  const [, traceId, value, timestamp] = EXEMPLAR.exec(checkout[0]!)!
  t.equal(traceId, sampled.traceId, 'the sampled request\'s trace id')
  t.ok(Number(value) > 0 && Number(value) < 60, 'the observed duration, in seconds')
  t.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 600, 'a timestamp in seconds')
  t.notOk(open.includes(unsampled.traceId), 'an unsampled request leaves no exemplar: its trace is nowhere to be found')
  t.ok(exemplars.every((l) => l.startsWith('http_request_duration_seconds_bucket{')), 'exemplars on the route histogram\'s buckets only')

  // The buyer port's /metrics negotiates the same way.
  const buyer = await app.inject({ method: 'GET', url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT } })
  t.equal(buyer.statusCode, 404, 'with METRICS_PORT set, not on the buyer port')

  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  t.notOk(text.includes(' # {'), 'no exemplars in the text format')
  t.match(text, /^# TYPE flashsale_checkout_attempts_total counter$/m, 'counters keep their names in the text format after an OpenMetrics scrape')
  t.match(open, /^# TYPE flashsale_checkout_attempts counter$/m, 'OpenMetrics names the counter family without _total')
  t.same([...sampleNames(open)].sort(), [...sampleNames(text)].sort(), 'the same series in both formats')
})

t.test('on the buyer port, /metrics answers OpenMetrics to who asks for it, the text format otherwise', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const { app, createSale } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
  await createSale({ items: 1, stock_per_item: 1 })
  const sampled = traceparent(true)
  await app.inject({ method: 'POST', url: '/checkout?user_id=a&id=1', headers: { traceparent: sampled.header } })
  const open = await app.inject({ method: 'GET', url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT } })
  t.equal(open.headers['content-type'], OPENMETRICS)
  t.match(open.body, new RegExp(`route="/checkout",status_code="200"\\} 1 # \\{trace_id="${sampled.traceId}"\\}`))
  const text = await app.inject({ method: 'GET', url: '/metrics' })
  t.match(text.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.notOk(text.body.includes('trace_id'))
})

t.test('with METRICS=off (no route histogram), tracing still traces and /metrics still answers', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const { app, createSale } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, METRICS: 'off' })
  await createSale({ items: 1, stock_per_item: 1 })
  const sampled = traceparent(true)
  const res = await app.inject({ method: 'POST', url: '/checkout?user_id=a&id=1', headers: { traceparent: sampled.header } })
  t.equal(res.statusCode, 200)
  const open = await app.inject({ method: 'GET', url: '/metrics', headers: { accept: PROMETHEUS_ACCEPT } })
  t.equal(open.statusCode, 200)
  t.notOk(open.body.includes(' # {'), 'no route histogram, no exemplars')
  await app.close()
  t.ok(receiver.spans.some((s) => s.traceId === sampled.traceId && s.name === 'redis checkout'), 'the checkout traced')
})
