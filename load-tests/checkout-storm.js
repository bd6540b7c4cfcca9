// Checkout storm: distinct buyers arrive at a fixed (and rising) rate and race for one hot
// item until it is sold out. Every unit goes to exactly one buyer; the rest hear sold_out.
import { check } from 'k6'
import { Counter } from 'k6/metrics'
import { byProfile, newRunId } from './lib/config.js'
import { checkout, startOwnSale, errorCode } from './lib/api.js'
import { buyerId } from './lib/buyers.js'
import { checkSaleInvariants } from './lib/invariants.js'
import { endpointThresholds, INVARIANT_THRESHOLDS } from './lib/thresholds.js'
import { arrivalVUs, peakRate } from './lib/vus.js'
import { SUMMARY_TREND_STATS, summaryFor } from './lib/summary.js'

const HOT_STOCK = byProfile({ smoke: 500, load: 10000, stress: 50000 })
const reserved = new Counter('storm_reserved')
const soldOut = new Counter('storm_sold_out')
const START_RATE = byProfile({ smoke: 50, load: 500, stress: 2000 })
// Arrivals outnumber the stock, so the item sells out part-way through.
const STAGES = byProfile({
  smoke: [{ target: 100, duration: '10s' }, { target: 100, duration: '10s' }],
  load: [{ target: 2000, duration: '30s' }, { target: 2000, duration: '1m' }],
  stress: [{ target: 8000, duration: '1m' }, { target: 8000, duration: '2m' }],
})
const CHECKOUT = { p95: byProfile({ smoke: 50, load: 100, stress: 250 }), p99: byProfile({ smoke: 150, load: 250, stress: 500 }), failed: 0.01 }

export const options = {
  scenarios: {
    // An iteration is one checkout: VUs for the peak rate at the p95 bound, up to the p99 bound.
    storm: Object.assign({
      executor: 'ramping-arrival-rate',
      startRate: START_RATE,
      timeUnit: '1s',
      stages: STAGES,
      gracefulStop: '5s',
    }, arrivalVUs(peakRate(START_RATE, STAGES), CHECKOUT.p95, CHECKOUT.p99)),
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
  thresholds: Object.assign(
    endpointThresholds({ checkout: CHECKOUT }),
    INVARIANT_THRESHOLDS,
    {
      // Never more reservations than units: the storm must not oversell.
      storm_reserved: [`count<=${HOT_STOCK}`],
      'checks{kind:storm}': ['rate==1'],
    }
  ),
}

export function setup () {
  // One hot item; a buyer may take one unit only.
  return startOwnSale({ items: 1, stock_per_item: HOT_STOCK, per_user_limit: 1 }, newRunId())
}

export default function (data) {
  const res = checkout(buyerId(data.runId, 'h'), 1)
  const code = errorCode(res)
  if (res.status === 200) reserved.add(1)
  if (code === 'sold_out') soldOut.add(1)
  check(res, { 'checkout: reserved or sold out': (r) => r.status === 200 || code === 'sold_out' }, { kind: 'storm' })
}

export function teardown (data) {
  checkSaleInvariants(data.saleId, { total: data.total, soldOut: true })
}

export const handleSummary = summaryFor('checkout-storm')
