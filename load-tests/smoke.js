// Smoke: every endpoint once per iteration at a trickle, to show the service answers and adds up.
//   k6 run -e BASE_URL=http://localhost:3000 -e ADMIN_TOKEN=... load-tests/smoke.js
import { check, sleep } from 'k6'
import { byProfile, newRunId } from './lib/config.js'
import { checkout, startOwnSale, getItems, getSale, purchase } from './lib/api.js'
import { buyerId, randomItem } from './lib/buyers.js'
import { checkSaleInvariants } from './lib/invariants.js'
import { endpointThresholds, INVARIANT_THRESHOLDS } from './lib/thresholds.js'
import { SUMMARY_TREND_STATS, summaryFor } from './lib/summary.js'

const ITEMS = 1000

export const options = {
  scenarios: {
    smoke: {
      executor: 'constant-vus',
      vus: byProfile({ smoke: 2, load: 5, stress: 10 }),
      duration: byProfile({ smoke: '20s', load: '2m', stress: '5m' }),
      gracefulStop: '5s',
    },
  },
  summaryTrendStats: SUMMARY_TREND_STATS,
  thresholds: Object.assign(
    endpointThresholds({
      checkout: { p95: 50, p99: 100, failed: 0.01 },
      purchase: { p95: 100, p99: 200, failed: 0.01 },
      sale: { p95: 50, p99: 100, failed: 0.01 },
      items: { p95: 100, p99: 200, failed: 0.01 },
    }),
    INVARIANT_THRESHOLDS,
    { checks: ['rate>0.99'] }
  ),
}

export function setup () {
  return startOwnSale({ items: ITEMS, stock_per_item: 100, per_user_limit: 10 }, newRunId())
}

export default function (data) {
  check(getSale(), { 'sale: 200 with our sale': (r) => r.status === 200 && r.json('sale_id') === data.saleId })
  check(getItems(0, 20), { 'items: a page of 20': (r) => r.status === 200 && r.json('items').length === 20 })

  const res = checkout(buyerId(data.runId, 's'), randomItem(ITEMS))
  if (!check(res, { 'checkout: 200 with a code': (r) => r.status === 200 && typeof r.json('code') === 'string' })) return
  const code = res.json('code')
  const first = purchase(code)
  check(first, { 'purchase: 200 purchased': (r) => r.status === 200 && r.json('status') === 'purchased' })
  const again = purchase(code)
  check(again, {
    'purchase again: same purchase_id': (r) => r.status === 200 && r.json('purchase_id') === first.json('purchase_id'),
  })
  sleep(0.5)
}

export function teardown (data) {
  checkSaleInvariants(data.saleId, { total: data.total })
}

export const handleSummary = summaryFor('smoke')
