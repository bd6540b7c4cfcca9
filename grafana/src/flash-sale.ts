import { dashboard, q, row, SEL, stat, timeseries } from './panels.ts'

// Every instance reports the same sale (it lives in Redis): max() shows it once.
const units = (metric: string) => `max(${metric}{${SEL}})`
const AVAILABLE = `${units('flashsale_sale_units_total')} - ${units('flashsale_sale_units_sold')} - ${units('flashsale_sale_units_reserved')}`

const PURCHASE_RATE = `sum(rate(flashsale_purchase_attempts_total{${SEL}, result="success"}[5m]))`
const CHECKOUT_RATE = `sum(rate(flashsale_checkout_attempts_total{${SEL}, result="success"}[5m]))`

/** The sale as a buyer and an operator see it: stock, outcomes, conversion, expiries, attempt log. */
export function flashSale () {
  return dashboard('flashsale-sale', 'Flashsale / Flash sale',
    'Progress of the current sale: units, checkout and purchase outcomes, conversion, expiries and the attempt log.')
    .withRow(row('Now'))
    .withPanel(stat('Sale running', '1 while a sale is running.', 'short', q(`max(flashsale_sale_active{${SEL}})`, 'active')))
    .withPanel(stat('Units available', 'Units neither sold nor reserved.', 'short', q(AVAILABLE, 'available')))
    .withPanel(stat('Units sold', 'Units bought in the current sale.', 'short', q(units('flashsale_sale_units_sold'), 'sold')))
    .withPanel(stat('Sell-through', 'Share of the sale\'s units sold.', 'percentunit',
      q(`${units('flashsale_sale_units_sold')} / ${units('flashsale_sale_units_total')}`, 'sold share')))
    .withPanel(stat('Time to sell out',
      'At the pace of the last 5 minutes, how long until every unit is sold (0 once sold out). The sale\'s actual time ' +
        'to sell out is in its report: GET /admin/sales/:id, sell_out_seconds.', 's',
      q(`(${units('flashsale_sale_units_total')} - ${units('flashsale_sale_units_sold')}) / (${PURCHASE_RATE} > 0)`, 'to sell out'), 12))
    .withPanel(stat('Conversion (5 min)', 'Purchases per successful checkout over the last 5 minutes; the whole sale\'s is in its report.',
      'percentunit', q(`${PURCHASE_RATE} / (${CHECKOUT_RATE} > 0)`, 'conversion'), 12))
    .withRow(row('Stock'))
    .withPanel(timeseries('Units over time', 'Total, sold, reserved and available units of the current sale.', 'short', [
      q(units('flashsale_sale_units_total'), 'total'),
      q(units('flashsale_sale_units_sold'), 'sold'),
      q(units('flashsale_sale_units_reserved'), 'reserved'),
      q(AVAILABLE, 'available'),
    ], 24))
    .withRow(row('Outcomes'))
    .withPanel(timeseries('Checkout outcomes', 'Checkout attempts per second by result.', 'ops', [
      q(`sum by (result) (rate(flashsale_checkout_attempts_total{${SEL}}[$__rate_interval]))`, '{{result}}'),
    ]))
    .withPanel(timeseries('Purchase outcomes', 'Purchase attempts per second by result.', 'ops', [
      q(`sum by (result) (rate(flashsale_purchase_attempts_total{${SEL}}[$__rate_interval]))`, '{{result}}'),
    ]))
    .withPanel(timeseries('Conversion', 'Purchases per successful checkout over the window: reservations that turn into sales.', 'percentunit', [
      q(`sum(rate(flashsale_purchase_attempts_total{${SEL}, result="success"}[$__rate_interval]))
  / sum(rate(flashsale_checkout_attempts_total{${SEL}, result="success"}[$__rate_interval]))`, 'conversion'),
    ]))
    .withPanel(timeseries('Reservations expired', 'Reservations per second that expired and returned their unit to stock.', 'ops', [
      q(`sum(rate(flashsale_reservations_expired_total{${SEL}}[$__rate_interval]))`, 'expired'),
      q(`sum by (outcome) (rate(flashsale_reservations_settled_total{${SEL}}[$__rate_interval]))`, 'settled after crash: {{outcome}}'),
    ]))
    .withRow(row('Attempt log'))
    .withPanel(timeseries('Attempt-log backlog', 'Checkout attempts recorded but not yet in Postgres.', 'short', [
      q(`sum by (instance) (flashsale_attempt_log_backlog{${SEL}})`, '{{instance}}'),
    ], 8))
    .withPanel(timeseries('Attempt-log throughput', 'Attempts written to Postgres, and attempts dropped because the buffer was full.', 'ops', [
      q(`sum(rate(flashsale_attempt_log_persisted_total{${SEL}}[$__rate_interval]))`, 'persisted'),
      q(`sum(rate(flashsale_attempt_log_dropped_total{${SEL}}[$__rate_interval]))`, 'dropped'),
    ], 8))
    .withPanel(timeseries('Attempts dead-lettered (5 min)',
      'Attempts Postgres refused even alone over the last 5 minutes, the alert\'s window: they are kept raw, with the reason, ' +
        'in checkout_attempts_dead_letter. Any is worth a look.',
      'short', [
        q(`sum by (instance) (increase(flashsale_attempt_log_dead_letter_total{${SEL}}[5m]))`, '{{instance}}'),
      ], 8))
}
