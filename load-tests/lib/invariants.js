// The sale's invariants, read back from the service after a scenario (in teardown()).
import { check } from 'k6'
import { Counter } from 'k6/metrics'
import { getSale } from './api.js'

export const violations = new Counter('sale_invariant_violations')

/**
 * Checks that the scenario's sale adds up: sold + reserved + available = total, and nothing is
 * sold or reserved beyond the total. Returns the sale as read, for the summary.
 */
export function checkSaleInvariants (saleId, expected = {}) {
  violations.add(0)
  const res = getSale()
  const ok = check(res, { 'GET /sale answers 200 after the run': (r) => r.status === 200 }, { kind: 'invariant' })
  if (!ok) {
    violations.add(1)
    return null
  }
  const s = res.json()
  const rules = {
    'the current sale is the one this run created': () => s.sale_id === saleId,
    'sold + reserved + available = total': () => s.units_sold + s.units_reserved + s.units_available === s.units_total,
    'nothing oversold (sold + reserved <= total)': () => s.units_sold + s.units_reserved <= s.units_total,
    'no negative counts': () => s.units_sold >= 0 && s.units_reserved >= 0 && s.units_available >= 0,
  }
  if (expected.total !== undefined) rules['total is the stock the run created'] = () => s.units_total === expected.total
  if (expected.soldOut) rules['the hot stock is all taken'] = () => s.units_available === 0
  for (const [name, rule] of Object.entries(rules)) {
    if (!check(s, { [name]: rule }, { kind: 'invariant' })) {
      violations.add(1)
      console.error(`invariant failed: ${name}: ${JSON.stringify(s)}`)
    }
  }
  return s
}
