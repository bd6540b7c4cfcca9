import t from 'tap'
import { registerHooks } from 'node:module'
import { Writable } from 'node:stream'

// Every module resolved from here on, before the app's own modules load: the app must load
// nothing of OpenTelemetry unless tracing is on.
const resolved: string[] = []
registerHooks({
  resolve (specifier, context, next) {
    const result = next(specifier, context)
    resolved.push(result.url)
    return result
  },
})
// The API alone (a no-op facade) is not tracing's: prom-client's default metrics load it anyway.
const otel = () => resolved.filter((url) => /\/node_modules\/(@opentelemetry\/(?!api\/)|@fastify\/otel\/)/.test(url))

const { buildTestApp } = await import('../helpers/app.ts')
const { serverOptions } = await import('../../src/server.ts')
const { ConfigError, loadConfig, tracesEndpoint } = await import('../../src/config.ts')
const { startOtlpReceiver, traceparent } = await import('../helpers/otlp-receiver.ts')

t.test('without an OTLP endpoint nothing of OpenTelemetry is loaded, no hook of it runs, no log line has ids', async (t) => {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  const { app, createSale } = await buildTestApp(t, {}, undefined, (config) => {
    const options = serverOptions({ ...config, LOG_LEVEL: 'debug' })
    return { ...options, logger: { ...(options.logger as object), level: 'debug', stream } }
  })
  await createSale({ items: 1, stock_per_item: 1 })
  const checkout = await app.inject({ method: 'POST', url: '/checkout?user_id=alice&id=1', headers: { traceparent: traceparent().header } })
  const purchase = await app.inject({ method: 'POST', url: `/purchase?code=${checkout.json().code}`, headers: { traceparent: traceparent().header } })
  t.equal(purchase.statusCode, 200)
  await app.inject({ method: 'GET', url: '/metrics', headers: { accept: 'application/openmetrics-text' } })

  t.same(otel(), [], 'no module of OpenTelemetry\'s SDK, exporter or instrumentations resolved')
  t.notOk(app.hasPlugin('request-tracing'), 'no request tracing plugin')
  t.notOk(app.hasPlugin('step-tracing'), 'no step tracing plugin')
  t.notOk(app.hasRequestDecorator('opentelemetry'), 'no per-request tracing state')
  t.ok(lines.some((l) => l.msg === 'incoming request'), 'request lines were logged')
  t.notOk(lines.some((l) => 'trace_id' in l || 'span_id' in l), 'no ids on any line')
  const open = await app.inject({ method: 'GET', url: '/metrics', headers: { accept: 'application/openmetrics-text' } })
  t.ok(open.body.endsWith('# EOF\n'), 'OpenMetrics is still served to who asks')
  t.notOk(open.body.includes(' # {'), 'without exemplars')

  // The same detector sees tracing's modules once an endpoint is set: the check above can fail.
  const receiver = await startOtlpReceiver()
  t.teardown(() => receiver.close())
  const traced = await buildTestApp(t, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
  t.ok(otel().some((url) => url.includes('/@opentelemetry/sdk-trace/')), 'with an endpoint, the SDK is loaded')
  t.ok(traced.app.hasPlugin('request-tracing'))
})

t.test('tracing configuration: the standard variables, validated at start', async (t) => {
  const endpoint = (env: Record<string, string>) => tracesEndpoint(loadConfig(env))
  t.equal(endpoint({}), undefined, 'off by default')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), 'http://collector:4318/v1/traces')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), 'http://collector:4318/v1/traces')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b/traces' }), 'https://b/traces',
    'the signal\'s own endpoint wins, as it is')
  t.equal(endpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_SDK_DISABLED: 'true' }), undefined, 'OTEL_SDK_DISABLED switches it off')
  t.equal(loadConfig({}).OTEL_SERVICE_NAME, 'flashsale')
  t.equal(loadConfig({}).OTEL_TRACES_SAMPLER, 'parentbased_always_on', 'the specification\'s default sampler')

  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env)
      return []
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      return err.problems
    }
  }
  t.match(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), [/^OTEL_EXPORTER_OTLP_ENDPOINT: /])
  t.match(problems({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'grpc://x' }), [/^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: /])
  t.match(problems({ OTEL_TRACES_SAMPLER: 'jaeger_remote' }), [/^OTEL_TRACES_SAMPLER: /])
  for (const arg of ['1.5', '-0.1', 'half', '0.5x']) {
    t.match(problems({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: arg }), [/^OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1/], arg)
  }
  for (const arg of ['0', '0.01', '.5', '1', '1.0']) t.same(problems({ OTEL_TRACES_SAMPLER_ARG: arg }), [], arg)
  t.match(problems({ OTEL_SDK_DISABLED: 'yes' }), [/^OTEL_SDK_DISABLED: /])
})
