// Soak: a steady, moderate mix of the whole flow for a long time, to find leaks and drift:
// latency that creeps up, memory that grows, reservations that expire and never come back.
import { check, sleep } from 'k6'
import { Gauge } from 'k6/metrics'
import { byProfile, newRunId } from './lib/config.js'
import { checkout, startOwnSale, getHealth, getSale, purchase } from './lib/api.js'
import { buyerId, randomItem } from './lib/buyers.js'
import { checkSaleInvariants } from './lib/invariants.js'
import { endpointThresholds, INVARIANT_THRESHOLDS } from './lib/thresholds.js'
import { arrivalVUs } from './lib/vus.js'
import { SUMMARY_TREND_STATS, summaryFor } from './lib/summary.js'

const ITEMS = 10000
const rssStart = new Gauge('soak_service_rss_start_mb')
const rssEnd = new Gauge('soak_service_rss_end_mb')
const RATE = byProfile({ smoke: 20, load: 200, stress: 500 })
const CHECKOUT = { p95: 50, p99: 150, failed: 0.005 }
const PURCHASE = { p95: 100, p99: 250, failed: 0.005 }
// Up to a second of thinking between checkout and purchase (half a second on average).
const THINK_MS = 1000

export const options = {
  scenarios: {
    // An iteration is a checkout, then for some buyers the thinking and a purchase: sized as if
    // every buyer did both, at the p95 bounds and half the thinking, and at the p99 bounds and all of it.
    soak: Object.assign({
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: byProfile({ smoke: '30s', load: '30m', stress: '2h' }),
      gracefulStop: '5s',
    }, arrivalVUs(RATE, CHECKOUT.p95 + THINK_MS / 2 + PURCHASE.p95, CHECKOUT.p99 + THINK_MS + PURCHASE.p99)),
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
  thresholds: Object.assign(
    endpointThresholds({
      checkout: CHECKOUT,
      purchase: PURCHASE,
      sale: { p95: 50, p99: 150, failed: 0.005 },
    }),
    INVARIANT_THRESHOLDS,
    { 'checks{kind:soak}': ['rate>0.99'] }
  ),
}

// null when /health does not say: setup()'s data travels as JSON, which would turn NaN into null.
function rssMb () {
  const res = getHealth()
  return res.status === 200 ? res.json('memory.rss_bytes') / 1048576 : null
}

export function setup () {
  // Short reservations, so expiry and the return of units run all through the soak.
  const data = startOwnSale({ items: ITEMS, stock_per_item: 1000, per_user_limit: 10, reservation_ttl_seconds: 10 }, newRunId())
  data.rss = rssMb()
  return data
}

export default function (data) {
  const roll = Math.random()
  if (roll < 0.1) {
    getSale()
    return
  }
  const res = checkout(buyerId(data.runId, 'o'), randomItem(ITEMS))
  check(res, { 'checkout: a sale outcome': (r) => [200, 409, 429].includes(r.status) }, { kind: 'soak' })
  // Half the reservations are bought, half are left to expire.
  if (res.status !== 200 || roll < 0.55) return
  sleep((Math.random() * THINK_MS) / 1000)
  const paid = purchase(res.json('code'))
  check(paid, { 'purchase: purchased': (r) => r.status === 200 }, { kind: 'soak' })
}

export function teardown (data) {
  if (data.rss !== null) rssStart.add(data.rss)
  const end = rssMb()
  if (end !== null) rssEnd.add(end)
  checkSaleInvariants(data.saleId, { total: data.total })
}

export const handleSummary = summaryFor('soak')
