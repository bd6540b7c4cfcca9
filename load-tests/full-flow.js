// Full flow: buyers browse, check out an item, think, then purchase it, as people do.
// The classic sale: 10,000 items of one unit, at most 10 per buyer.
import { check, sleep } from 'k6'
import { Counter } from 'k6/metrics'
import { byProfile, newRunId } from './lib/config.js'
import { checkout, startOwnSale, errorCode, getItems, purchase } from './lib/api.js'
import { buyerId, randomItem } from './lib/buyers.js'
import { checkSaleInvariants } from './lib/invariants.js'
import { endpointThresholds, INVARIANT_THRESHOLDS } from './lib/thresholds.js'
import { SUMMARY_TREND_STATS, summaryFor } from './lib/summary.js'

const ITEMS = 10000
const bought = new Counter('flow_purchased')

export const options = {
  scenarios: {
    buyers: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: byProfile({
        smoke: [{ target: 10, duration: '10s' }, { target: 10, duration: '20s' }, { target: 0, duration: '5s' }],
        load: [{ target: 200, duration: '1m' }, { target: 200, duration: '3m' }, { target: 0, duration: '30s' }],
        stress: [{ target: 1000, duration: '2m' }, { target: 1000, duration: '5m' }, { target: 0, duration: '1m' }],
      }),
      gracefulRampDown: '10s',
      gracefulStop: '10s',
    },
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
  thresholds: Object.assign(
    endpointThresholds({
      checkout: { p95: 50, p99: 150, failed: 0.01 },
      purchase: { p95: 100, p99: 250, failed: 0.01 },
      items: { p95: 100, p99: 250, failed: 0.01 },
    }),
    INVARIANT_THRESHOLDS,
    { 'checks{kind:flow}': ['rate>0.99'] }
  ),
}

export function setup () {
  return startOwnSale({ items: ITEMS, stock_per_item: 1, per_user_limit: 10 }, newRunId())
}

export default function (data) {
  const page = Math.floor(Math.random() * (ITEMS / 100))
  getItems(page * 100, 100)
  sleep(0.5 + Math.random())

  const res = checkout(buyerId(data.runId, 'f'), randomItem(ITEMS))
  const failure = errorCode(res)
  check(res, { 'checkout: reserved or an expected refusal': (r) => r.status === 200 || ['sold_out', 'user_limit_reached', 'rate_limited'].includes(failure) }, { kind: 'flow' })
  if (res.status !== 200) return sleep(1)
  // Think time between the reservation and the payment.
  sleep(1 + Math.random() * 2)
  const paid = purchase(res.json('code'))
  if (paid.status === 200) bought.add(1)
  check(paid, { 'purchase: purchased': (r) => r.status === 200 && r.json('status') === 'purchased' }, { kind: 'flow' })
}

export function teardown (data) {
  checkSaleInvariants(data.saleId, { total: data.total })
}

export const handleSummary = summaryFor('full-flow')
