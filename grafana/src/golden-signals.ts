import { dashboard, q, quantile, qx, row, SEL, timeseries } from './panels.ts'

const HTTP = 'http_request_duration_seconds'

/** Latency, traffic, errors and saturation of the service, by route. */
export function goldenSignals () {
  return dashboard('flashsale-golden-signals', 'Flashsale / Golden signals',
    'Latency, traffic, errors and saturation of the flash-sale service.')
    .withRow(row('Latency'))
    .withPanel(timeseries('Latency p50 / p95 / p99 by route', 'Request duration percentiles by route pattern; exemplars link to traces.', 's', [
      qx(quantile(HTTP, 0.5, 'route'), 'p50 {{route}}'),
      qx(quantile(HTTP, 0.95, 'route'), 'p95 {{route}}'),
      qx(quantile(HTTP, 0.99, 'route'), 'p99 {{route}}'),
    ], 24))
    .withRow(row('Traffic'))
    .withPanel(timeseries('Requests by route', 'Requests per second by route pattern and method.', 'reqps', [
      q(`sum by (route, method) (rate(${HTTP}_count{${SEL}}[$__rate_interval]))`, '{{method}} {{route}}'),
    ]))
    .withPanel(timeseries('Requests by status code', 'Requests per second by HTTP status.', 'reqps', [
      q(`sum by (status_code) (rate(${HTTP}_count{${SEL}}[$__rate_interval]))`, '{{status_code}}'),
    ]))
    .withRow(row('Errors'))
    .withPanel(timeseries('5xx ratio', 'Share of answered requests (a client that left, 499, is not one) answered with a 5xx status (the alert fires above 5%).', 'percentunit', [
      q(`(sum(rate(${HTTP}_count{${SEL}, status_code=~"5.."}[$__rate_interval])) or vector(0))
  / sum(rate(${HTTP}_count{${SEL}, status_code!="499"}[$__rate_interval]))`, '5xx ratio'),
    ], 8))
    .withPanel(timeseries('Errors by class', 'Failed requests per second by status: 4xx are expected sale outcomes, 5xx are ours; clients that left (499) are under Departures.', 'reqps', [
      q(`sum by (status_code) (rate(${HTTP}_count{${SEL}, status_code=~"[45]..", status_code!="499"}[$__rate_interval]))`, '{{status_code}}'),
    ], 8))
    .withPanel(timeseries('Failed outcomes by result', 'Checkouts and purchases that did not succeed, by result (abandoned ones are under Departures).', 'ops', [
      q(`sum by (result) (rate(flashsale_checkout_attempts_total{${SEL}, result!~"success|abandoned"}[$__rate_interval]))`, 'checkout {{result}}'),
      q(`sum by (result) (rate(flashsale_purchase_attempts_total{${SEL}, result!~"success|replay|abandoned"}[$__rate_interval]))`, 'purchase {{result}}'),
    ], 8))
    .withPanel(timeseries('Departures', 'Checkouts and purchases whose client closed the connection before the answer (result abandoned, status 499 as nginx logs it): not errors.', 'ops', [
      q(`sum(rate(flashsale_checkout_attempts_total{${SEL}, result="abandoned"}[$__rate_interval]))`, 'checkout abandoned'),
      q(`sum(rate(flashsale_purchase_attempts_total{${SEL}, result="abandoned"}[$__rate_interval]))`, 'purchase abandoned'),
      q(`sum(rate(${HTTP}_count{${SEL}, status_code="499"}[$__rate_interval])) or vector(0)`, '499'),
    ], 24))
    .withRow(row('Saturation'))
    .withPanel(timeseries('Event-loop utilization', 'Share of time the event loop was busy, per instance.', 'percentunit', [
      q(`flashsale_event_loop_utilization{${SEL}}`, '{{instance}}'),
    ], 8))
    .withPanel(timeseries('Event-loop lag', 'Event-loop delay percentiles, per instance.', 's', [
      q(`nodejs_eventloop_lag_p50_seconds{${SEL}}`, 'p50 {{instance}}'),
      q(`nodejs_eventloop_lag_p99_seconds{${SEL}}`, 'p99 {{instance}}'),
      q(`nodejs_eventloop_lag_max_seconds{${SEL}}`, 'max {{instance}}'),
    ], 8))
    .withPanel(timeseries('Memory', 'RSS, V8 heap used and committed, and the V8 heap limit.', 'bytes', [
      q(`process_resident_memory_bytes{${SEL}}`, 'rss {{instance}}'),
      q(`nodejs_heap_size_used_bytes{${SEL}}`, 'heap used {{instance}}'),
      q(`nodejs_heap_size_total_bytes{${SEL}}`, 'heap total {{instance}}'),
      q(`flashsale_heap_limit_bytes{${SEL}}`, 'heap limit {{instance}}'),
    ], 8))
    .withPanel(timeseries('GC time', 'Seconds per second spent in garbage collection, by kind.', 'percentunit', [
      q(`sum by (kind) (rate(nodejs_gc_duration_seconds_sum{${SEL}}[$__rate_interval]))`, '{{kind}}'),
    ], 8))
    .withPanel(timeseries('Postgres pool', 'Pool connections by state: busy against max; waiting means queries queue in the process.', 'short', [
      q(`sum by (state) (flashsale_db_pool_connections{${SEL}})`, '{{state}}'),
    ], 8))
    .withPanel(timeseries('Redis latency p99 by command', 'p99 of Redis commands and Lua scripts.', 's', [
      q(quantile('flashsale_redis_command_duration_seconds', 0.99, 'command'), '{{command}}'),
    ], 8))
    .withPanel(timeseries('Load shed', 'Requests refused with 503 because the process was under pressure, by reason.', 'reqps', [
      q(`sum by (reason) (rate(flashsale_load_shed_total{${SEL}}[$__rate_interval]))`, '{{reason}}'),
    ], 24))
}
