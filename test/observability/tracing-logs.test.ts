import t from 'tap'
import { Writable } from 'node:stream'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { startOtlpReceiver, traceparent } from '../helpers/otlp-receiver.ts'
import { freePort } from '../helpers/free-port.ts'
import { serverOptions } from '../../src/server.ts'
import type { Config } from '../../src/config.ts'

/** The server's options, logging at debug (request logs on) into `lines`. */
function capturing (lines: Record<string, unknown>[]) {
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return (config: Config) => {
    const options = serverOptions({ ...config, LOG_LEVEL: 'debug' })
    return { ...options, logger: { ...(options.logger as object), level: 'debug', stream } }
  }
}

t.test('with tracing on, every log line of a traced request carries its trace_id and span_id', async (t) => {
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const lines: Record<string, unknown>[] = []
  const { app, createSale } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, undefined, capturing(lines))
  await createSale({ items: 1, stock_per_item: 1 })

  const parent = traceparent()
  const before = lines.length
  const res = await app.inject({ method: 'POST', url: '/checkout?user_id=alice&id=1', headers: { traceparent: parent.header } })
  t.equal(res.statusCode, 200)
  const request = lines.slice(before).filter((l) => (l.req as { url?: string } | undefined)?.url?.startsWith('/checkout') ||
    l.msg === 'request completed')
  t.ok(request.length >= 2, 'the request\'s own lines (incoming, completed)')
  for (const line of request) {
    t.equal(line.trace_id, parent.traceId, `${line.msg}: the request's trace id`)
    t.match(line.span_id, /^[0-9a-f]{16}$/, `${line.msg}: a span id`)
  }
  await eventually('the request span exported', async () => receiver.spans.some((s) => s.traceId === parent.traceId && s.name === 'request'))
  const spanIds = new Set(receiver.spans.filter((s) => s.traceId === parent.traceId).map((s) => s.spanId))
  t.ok(request.every((l) => spanIds.has(l.span_id as string)), 'each span_id is a span of that trace')

  // A line outside any request carries no ids.
  await app.close()
  const closing = lines.find((l) => l.msg === 'attempt log drained at close')
  t.ok(closing, 'the close logged')
  t.notOk(closing && 'trace_id' in closing, 'no trace id outside a trace')
})

t.test('spans that cannot be exported are said so in the log, not silently lost', async (t) => {
  const lines: Record<string, unknown>[] = []
  const nobody = await freePort()
  const { app, createSale } = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${nobody}` }, undefined, capturing(lines))
  await createSale({ items: 1, stock_per_item: 1 })
  await app.inject({ method: 'POST', url: '/checkout?user_id=alice&id=1', headers: { traceparent: traceparent().header } })
  // The exporter retries a refused export for a while before it gives up and says so.
  const warning = await eventually('a warning from tracing', async () => lines.find((l) => l.component === 'tracing'), 60_000)
  t.equal(warning.level, 40, 'a warning')
  t.match(warning.msg, /^tracing: /)
  t.match(JSON.stringify(warning), /ECONNREFUSED|export|connect/i, 'it says what failed')
})
