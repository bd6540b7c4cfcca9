// Double submit: one reservation code purchased by several requests at the same moment (a
// double-clicked "buy" button, a retrying client). Exactly one purchase_id must come back,
// however many answers; the losers of the lock race see 409 purchase_in_progress.
import { check } from 'k6'
import { Counter, Rate } from 'k6/metrics'
import { byProfile, newRunId } from './lib/config.js'
import { checkout, startOwnSale, errorCode, purchase, purchaseConcurrently } from './lib/api.js'
import { buyerId, randomItem } from './lib/buyers.js'
import { checkSaleInvariants } from './lib/invariants.js'
import { endpointThresholds, INVARIANT_THRESHOLDS } from './lib/thresholds.js'
import { arrivalVUs } from './lib/vus.js'
import { SUMMARY_TREND_STATS, summaryFor } from './lib/summary.js'

const ITEMS = 10000
const BURST = byProfile({ smoke: 5, load: 10, stress: 20 })
const mismatches = new Counter('double_submit_mismatched_ids')
const contended = new Rate('double_submit_lock_busy')
const RATE = byProfile({ smoke: 10, load: 100, stress: 400 })
const CHECKOUT = { p95: 50, p99: 150, failed: 0.01 }
const PURCHASE = { p95: 150, p99: 300, failed: 0.01 }

export const options = {
  scenarios: {
    // An iteration is a checkout, the burst, and one to six purchases to settle: usually a
    // checkout and two purchases (p95 bounds), at worst a checkout and seven (p99 bounds).
    double_submit: Object.assign({
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: byProfile({ smoke: '20s', load: '2m', stress: '5m' }),
      gracefulStop: '5s',
    }, arrivalVUs(RATE, CHECKOUT.p95 + 2 * PURCHASE.p95, CHECKOUT.p99 + 7 * PURCHASE.p99)),
  },
  // k6 runs at most `batchPerHost` requests of a batch at once (6 unless told): the rest would
  // wait for a free connection, the requests would no longer race and the 409 path would go untested.
  batch: BURST,
  batchPerHost: BURST,
  summaryTrendStats: SUMMARY_TREND_STATS,
  thresholds: Object.assign(
    endpointThresholds({ checkout: CHECKOUT, purchase: PURCHASE }),
    INVARIANT_THRESHOLDS,
    {
      double_submit_mismatched_ids: ['count==0'],
      'checks{kind:idempotent}': ['rate==1'],
    }
  ),
}

export function setup () {
  return startOwnSale({ items: ITEMS, stock_per_item: 10, per_user_limit: 10 }, newRunId())
}

export default function (data) {
  const res = checkout(buyerId(data.runId, 'd'), randomItem(ITEMS))
  if (res.status !== 200) return
  const code = res.json('code')
  const answers = purchaseConcurrently(code, BURST)
  const ids = new Set()
  for (const r of answers) {
    if (r.status === 200) ids.add(r.json('purchase_id'))
    contended.add(errorCode(r) === 'purchase_in_progress')
  }
  // Whatever the burst said, asking again settles it: the same id as any 200 in the burst.
  let settled = purchase(code)
  for (let i = 0; i < 5 && errorCode(settled) === 'purchase_in_progress'; i++) settled = purchase(code)
  if (settled.status === 200) ids.add(settled.json('purchase_id'))
  if (ids.size !== 1) mismatches.add(1)
  mismatches.add(0)
  check(ids, { 'one code, one purchase_id': (s) => s.size === 1 }, { kind: 'idempotent' })
  check(answers, {
    'burst answers are 200 or 409 purchase_in_progress': (rs) =>
      rs.every((r) => r.status === 200 || errorCode(r) === 'purchase_in_progress'),
  }, { kind: 'idempotent' })
}

export function teardown (data) {
  checkSaleInvariants(data.saleId, { total: data.total })
}

export const handleSummary = summaryFor('double-submit')
