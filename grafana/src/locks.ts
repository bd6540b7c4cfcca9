import { dashboard, q, quantile, row, SEL, timeseries } from './panels.ts'

const acquisitions = (matchers: string) =>
  `sum by (lock_type) (rate(flashsale_lock_acquire_total{${matchers}}[$__rate_interval]))`
// A lock type with no acquisitions has no share to divide (0/0 is NaN): it shows 0, not a gap.
const CONTENTION = `${acquisitions(`${SEL}, result="busy"`)}
  / (${acquisitions(SEL)} > 0)
  or ${acquisitions(SEL)} * 0`

/** Redlock: how often locks are taken, how long buyers wait for them, how long they are held, and losses. */
export function locks () {
  return dashboard('flashsale-locks', 'Flashsale / Locks',
    'Redlock acquisitions by result, contention, wait and hold percentiles, and locks lost while held.')
    .withRow(row('Acquisitions'))
    .withPanel(timeseries('Acquisitions by result', 'Lock acquisitions per second by lock type and result.', 'ops', [
      q(`sum by (lock_type, result) (rate(flashsale_lock_acquire_total{${SEL}}[$__rate_interval]))`, '{{lock_type}} {{result}}'),
    ]))
    .withPanel(timeseries('Contention ratio',
      'Share of acquisitions that found the lock taken through every retry; 0 while a lock type is not taken at all.',
      'percentunit', [q(CONTENTION, '{{lock_type}}')]))
    .withRow(row('Timing'))
    .withPanel(timeseries('Wait p50 / p95 / p99', 'Time to acquire a lock, retries included.', 's', [
      q(quantile('flashsale_lock_wait_seconds', 0.5, 'lock_type'), 'p50 {{lock_type}}'),
      q(quantile('flashsale_lock_wait_seconds', 0.95, 'lock_type'), 'p95 {{lock_type}}'),
      q(quantile('flashsale_lock_wait_seconds', 0.99, 'lock_type'), 'p99 {{lock_type}}'),
    ]))
    .withPanel(timeseries('Hold p50 / p95 / p99', 'Time a lock was held: the Postgres commit under it.', 's', [
      q(quantile('flashsale_lock_hold_seconds', 0.5, 'lock_type'), 'p50 {{lock_type}}'),
      q(quantile('flashsale_lock_hold_seconds', 0.95, 'lock_type'), 'p95 {{lock_type}}'),
      q(quantile('flashsale_lock_hold_seconds', 0.99, 'lock_type'), 'p99 {{lock_type}}'),
    ]))
    .withRow(row('Failures'))
    .withPanel(timeseries('Locks lost', 'Locks that expired or failed to extend while held (any is worth a look).', 'ops', [
      q(`sum by (lock_type) (rate(flashsale_lock_lost_total{${SEL}}[$__rate_interval]))`, '{{lock_type}}'),
    ]))
    .withPanel(timeseries('Purchases answered "in progress"', 'Purchases refused because another request held the code\'s lock.', 'ops', [
      q(`sum(rate(flashsale_purchase_attempts_total{${SEL}, result="lock_busy"}[$__rate_interval]))`, 'lock_busy'),
    ]))
}
