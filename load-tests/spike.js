// Spike: a quiet sale, then ten times the traffic in a few seconds (the sale goes live on a
// popular page), then quiet again. The service may shed load (429, 503 with Retry-After) but
// must not fall over, and must recover: latency after the spike returns to normal.
import { check } from 'k6'
import { byProfile, newRunId } from './lib/config.js'
import { checkout, startOwnSale, getSale } from './lib/api.js'
import { buyerId, randomItem } from './lib/buyers.js'
import { checkSaleInvariants } from './lib/invariants.js'
import { endpointThresholds, INVARIANT_THRESHOLDS } from './lib/thresholds.js'
import { arrivalVUs, peakRate } from './lib/vus.js'
import { SUMMARY_TREND_STATS, summaryFor } from './lib/summary.js'

const ITEMS = 10000
const BASE = byProfile({ smoke: 20, load: 200, stress: 500 })
const STAGES = byProfile({
  smoke: [{ target: BASE, duration: '5s' }, { target: BASE * 10, duration: '3s' }, { target: BASE * 10, duration: '7s' }, { target: BASE, duration: '3s' }, { target: BASE, duration: '7s' }],
  load: [{ target: BASE, duration: '30s' }, { target: BASE * 10, duration: '10s' }, { target: BASE * 10, duration: '1m' }, { target: BASE, duration: '10s' }, { target: BASE, duration: '1m' }],
  stress: [{ target: BASE, duration: '30s' }, { target: BASE * 20, duration: '10s' }, { target: BASE * 20, duration: '2m' }, { target: BASE, duration: '10s' }, { target: BASE, duration: '1m' }],
})
// Looser than steady state: the spike itself is in these numbers.
const CHECKOUT = { p95: byProfile({ smoke: 100, load: 250, stress: 500 }), p99: byProfile({ smoke: 250, load: 500, stress: 1000 }), failed: 0.02 }
const SALE = { p95: 100, p99: 250, failed: 0.02 }

export const options = {
  scenarios: {
    // An iteration is a checkout, after a read of the sale for one buyer in five: sized for the
    // peak as if every buyer read it, at the p95 bounds, up to the p99 bounds.
    spike: Object.assign({
      executor: 'ramping-arrival-rate',
      startRate: BASE,
      timeUnit: '1s',
      stages: STAGES,
      gracefulStop: '5s',
    }, arrivalVUs(peakRate(BASE, STAGES), CHECKOUT.p95 + SALE.p95, CHECKOUT.p99 + SALE.p99)),
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
  thresholds: Object.assign(
    endpointThresholds({ checkout: CHECKOUT, sale: SALE }),
    INVARIANT_THRESHOLDS,
    { 'checks{kind:spike}': ['rate>0.98'] }
  ),
}

export function setup () {
  return startOwnSale({ items: ITEMS, stock_per_item: 100, per_user_limit: 10 }, newRunId())
}

export default function (data) {
  if (Math.random() < 0.2) getSale()
  const res = checkout(buyerId(data.runId, 'k'), randomItem(ITEMS))
  check(res, {
    'checkout: answered with a sale outcome': (r) => [200, 409, 429].includes(r.status),
    'refusals under load say when to retry': (r) => r.status !== 429 || r.headers['Retry-After'] !== undefined,
  }, { kind: 'spike' })
}

export function teardown (data) {
  checkSaleInvariants(data.saleId, { total: data.total })
}

export const handleSummary = summaryFor('spike')
