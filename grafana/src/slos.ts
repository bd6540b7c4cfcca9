/**
 * The service level objectives of flashsale, declared once. `npm run dashboards` turns them into
 * the recording rules and burn-rate alerts of prometheus/rules/slo.yml and the SLO dashboard.
 *
 * What counts: every answer of the route except 499 (the client closed its connection before
 * the answer: nobody was left to serve, and what made it leave shows in the latency of the
 * others). Every 5xx counts against availability, 503 included: a buyer refused by load
 * shedding or during a Redis failover was not served, whatever the reason. 4xx never count: they
 * are the sale's outcomes (409 sold out, 410 expired, 429 limits) or the client's mistakes.
 */

const HTTP = 'http_request_duration_seconds'

export interface Slo {
  /** Label value of `slo` on every generated series and alert, and the dashboard's name for it. */
  name: string
  route: '/checkout' | '/purchase'
  sli: 'availability' | 'latency'
  /** Share of counted answers that must be good over the period, for example 0.999. */
  objective: number
  /** What a bad answer is, in words: "answers were ...". */
  bad: string
}

/** The windows error ratios are recorded over: each burn-rate alert reads a long and a short one. */
export const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'] as const
export type Window = typeof WINDOWS[number]

/** The period the error budget is counted over (budget left on the dashboard). */
export const PERIOD_DAYS = 30

/** Latency objective: answered within this many seconds (a bucket bound of the route histogram). */
export const LATENCY_SECONDS = 0.1

export const SLOS: Slo[] = [
  { name: 'checkout-availability', route: '/checkout', sli: 'availability', objective: 0.999, bad: '5xx' },
  { name: 'checkout-latency', route: '/checkout', sli: 'latency', objective: 0.99, bad: 'slower than 100 ms' },
  { name: 'purchase-availability', route: '/purchase', sli: 'availability', objective: 0.999, bad: '5xx' },
  { name: 'purchase-latency', route: '/purchase', sli: 'latency', objective: 0.99, bad: 'slower than 100 ms' },
]

export interface BurnTier {
  alert: string
  /** critical pages, warning opens a ticket (prometheus/alertmanager.yml). */
  severity: 'critical' | 'warning'
  /** How many times faster than the objective allows the budget is spent. */
  factor: number
  long: Window
  short: Window
  /** The long window in words. */
  over: string
}

/**
 * Multiwindow, multi-burn-rate alerts: the long window says the burn is big enough to matter, the
 * short one that it is still going on (so the alert stops soon after the burn does). At 14.4x a
 * 30-day budget is 2% spent in an hour; at 6x, 5% in six hours; at 3x, 10% in a day; at 1x, 10%
 * in three days.
 */
export const BURN_TIERS: BurnTier[] = [
  { alert: 'FlashsaleErrorBudgetFastBurn', severity: 'critical', factor: 14.4, long: '1h', short: '5m', over: 'hour' },
  { alert: 'FlashsaleErrorBudgetHighBurn', severity: 'critical', factor: 6, long: '6h', short: '30m', over: '6 hours' },
  { alert: 'FlashsaleErrorBudgetSteadyBurn', severity: 'warning', factor: 3, long: '1d', short: '2h', over: 'day' },
  { alert: 'FlashsaleErrorBudgetSlowBurn', severity: 'warning', factor: 1, long: '3d', short: '6h', over: '3 days' },
]

/** The error budget: the share of answers allowed to be bad. Rounded so 0.999 gives 0.001. */
export const budget = (slo: Slo) => round(1 - slo.objective)

/** A float product without binary noise (14.4 * 0.001 is 0.0144, not 0.014400000000000001). */
export const round = (n: number) => Number(n.toPrecision(6))

/** Answers the SLO counts, per second over `window`, by job. */
export function totalRate (slo: Slo, window: string): string {
  return `sum by (job) (rate(${HTTP}_count{route="${slo.route}", status_code!="499"}[${window}]))`
}

/** Bad answers per second over `window`, by job; 0 (not absent) while there are none. */
export function errorRate (slo: Slo, window: string): string {
  const total = totalRate(slo, window)
  if (slo.sli === 'availability') {
    return `(sum by (job) (rate(${HTTP}_count{route="${slo.route}", status_code=~"5.."}[${window}])) or ${total} * 0)`
  }
  const fast = `sum by (job) (rate(${HTTP}_bucket{route="${slo.route}", status_code!="499", le="${LATENCY_SECONDS}"}[${window}]))`
  return `(${total} - ${fast})`
}
