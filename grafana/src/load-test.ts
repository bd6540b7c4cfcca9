import { dashboard, labelVariable, q, qx, row, SEL, timeseries } from './panels.ts'

const HTTP = 'http_request_duration_seconds'
// k6's series carry its tags (testid, scenario, endpoint...), not job or instance: the testid
// variable picks the run.
const K6 = 'testid=~"$testid"'
const ROUTES = 'route=~"/checkout|/purchase"'

/** Client-side p95/p99 written by k6 (trend stats since the run started) beside the service's own. */
function latency (endpoint: 'checkout' | 'purchase') {
  const server = (p: number) => `histogram_quantile(${p}, sum by (le) (rate(${HTTP}_bucket{${SEL}, route="/${endpoint}"}[$__rate_interval])))`
  return timeseries(`${endpoint[0]!.toUpperCase()}${endpoint.slice(1)} latency: k6 and the service`,
    `p95 and p99 of POST /${endpoint} as k6 measured them (connection set-up and the network included; k6 writes them ` +
      'since the start of the run, per status: the worst is shown) beside the service\'s own over the rate interval. ' +
      'A gap the service does not show is spent before the request reaches it: accept queue, handshake, the client.', 's', [
      q(`max by (testid) (k6_http_req_duration_p95{${K6}, endpoint="${endpoint}"})`, 'k6 p95 {{testid}}'),
      q(`max by (testid) (k6_http_req_duration_p99{${K6}, endpoint="${endpoint}"})`, 'k6 p99 {{testid}}'),
      qx(server(0.95), 'service p95'),
      qx(server(0.99), 'service p99'),
    ])
}

/** k6 runs on the dashboard: one row, k6's view of a run beside the service's for the same window. */
export function loadTest () {
  const k6Reqs = (extra: string) => `sum by (endpoint) (rate(k6_http_reqs_total{${K6}, endpoint=~"checkout|purchase"${extra}}[$__rate_interval]))`
  const served = (extra: string) => `sum by (route) (rate(${HTTP}_count{${SEL}, ${ROUTES}${extra}}[$__rate_interval]))`
  return dashboard('flashsale-load-test', 'Flashsale / Load test (k6)',
    'A k6 run (experimental-prometheus-rw output, tagged with a testid) beside the service for the same window.')
    .withVariable(labelVariable('testid', 'k6 run', 'label_values(k6_http_reqs_total, testid)'))
    .withRow(row('k6 beside the service'))
    .withPanel(latency('checkout'))
    .withPanel(latency('purchase'))
    .withPanel(timeseries('Failure rate: k6 and the service',
      'k6: share of its requests whose answer was not an expected outcome (a 5xx, an unexpected 4xx, a timeout or a refused ' +
        'connection, status 0), from k6_http_reqs_total by expected_response. Service: share of answers that were 5xx. ' +
        'Failures k6 sees and the service does not never reached it.', 'percentunit', [
        q(`(${k6Reqs(', expected_response="false"')} or ${k6Reqs('')} * 0) / ${k6Reqs('')}`, 'k6 {{endpoint}}'),
        q(`(${served(', status_code=~"5.."')} or ${served('')} * 0) / ${served('')}`, 'service {{route}}'),
      ]))
    .withPanel(timeseries('Requests: k6 sent, the service answered',
      'Requests per second k6 sent by endpoint, and answers per second the service gave by route.', 'reqps', [
        q(k6Reqs(''), 'k6 {{endpoint}}'),
        q(served(''), 'service {{route}}'),
      ]))
    .withPanel(timeseries('k6 virtual users and dropped iterations',
      'VUs busy and allocated, and iterations an arrival-rate scenario could not start for want of a free VU ' +
        '(0 while k6 runs and drops none).', 'short', [
        q(`sum by (testid) (k6_vus{${K6}})`, 'VUs {{testid}}'),
        q(`sum by (testid) (k6_vus_max{${K6}})`, 'VUs allocated {{testid}}'),
        q(`sum by (testid) (k6_dropped_iterations_total{${K6}}) or sum by (testid) (k6_vus{${K6}}) * 0`, 'dropped {{testid}}'),
      ], 24))
}
