// Connection burst: checkouts from clients that open a new TCP connection for every request and
// close it after the answer (no keep-alive), as scripts, some proxies and short-lived mobile
// clients do. Every answer then pays for the handshake and the server's accept queue; keep-alive
// scenarios never see that cost. Distinct buyers, one checkout each. The load and stress
// profiles keep 2,000 new connections a second. The smoke profile sends 500 a second for 10 s:
// it passes with k6 on the same two cores as the service, Redis and Postgres (a new connection
// costs k6 about 500 us of CPU and the service 400-700 us, and 2,000 a second of both is more
// than two cores hold: BENCHMARKS.md), and its 5,000 checkouts from one address stay within the
// service's default per-address limit (RATE_LIMIT_IP_MAX 6,000 per 10 s window).
import { check } from 'k6'
import { byProfile, newRunId } from './lib/config.js'
import { checkout, errorCode, startOwnSale } from './lib/api.js'
import { buyerId, randomItem } from './lib/buyers.js'
import { arrivalVUs } from './lib/vus.js'
import { checkSaleInvariants } from './lib/invariants.js'
import { INVARIANT_THRESHOLDS } from './lib/thresholds.js'
import { SUMMARY_TREND_STATS, summaryFor } from './lib/summary.js'

const RATE = byProfile({ smoke: 500, load: 2000, stress: 2000 })
const SECONDS = byProfile({ smoke: 10, load: 60, stress: 180 })
const ARRIVALS = RATE * SECONDS
const ITEMS = 10000
// Twice the stock the arrivals could take, spread over the items, so nearly every checkout
// reserves and the run measures connections, not a sold-out item answering fast.
const STOCK_PER_ITEM = Math.ceil((2 * ARRIVALS) / ITEMS)

export const options = {
  scenarios: {
    // One checkout per iteration, connection set-up included: up to about 250 ms each on a busy
    // 2-core host (RATE / 4 VUs up front), and up to the 1 s p99 bound (RATE VUs) before the
    // run fails anyway.
    connection_burst: Object.assign({
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: `${SECONDS}s`,
      gracefulStop: '5s',
    }, arrivalVUs(RATE, 250, 1000)),
  },
  // The whole point: a new connection for every request, setup() and teardown() included.
  noConnectionReuse: true,
  summaryTrendStats: SUMMARY_TREND_STATS,
  thresholds: Object.assign(
    {
      // The client's view, connection set-up included.
      'http_req_duration{endpoint:checkout}': ['p(99)<=1000'],
      // A refused or reset connection has status 0 and counts here.
      'http_req_failed{endpoint:checkout}': ['rate<0.01'],
      'checks{kind:burst}': ['rate>0.99'],
      // Iterations k6 could not start in time (no free VU): past 1% the burst was not delivered.
      dropped_iterations: [`count<=${ARRIVALS / 100}`],
    },
    INVARIANT_THRESHOLDS
  ),
}

export function setup () {
  return startOwnSale({ items: ITEMS, stock_per_item: STOCK_PER_ITEM, per_user_limit: 1 }, newRunId())
}

export default function (data) {
  const res = checkout(buyerId(data.runId, 'n'), randomItem(ITEMS))
  const code = errorCode(res)
  // rate_limited is not a pass here: with the per-IP limit on, the service would answer most of
  // the burst from the limiter and the run would measure that instead.
  check(res, { 'checkout: reserved or sold out': (r) => r.status === 200 || code === 'sold_out' }, { kind: 'burst' })
}

export function teardown (data) {
  checkSaleInvariants(data.saleId, { total: data.total })
}

export const handleSummary = summaryFor('connection-burst')
