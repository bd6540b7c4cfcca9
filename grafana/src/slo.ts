import { dashboard, q, row, stat, timeseries } from './panels.ts'
import { BURN_TIERS, budget, PERIOD_DAYS, round, SLOS, type Slo } from './slos.ts'

const JOB = 'job=~"$job"'
const percent = (n: number) => `${round(n * 100)}%`
const objective = (slo: Slo) => `${percent(slo.objective)} of POST ${slo.route} answers not ${slo.bad}`
const tiers = BURN_TIERS.map((t) => `${t.factor} over ${t.long} (${t.severity === 'critical' ? 'page' : 'ticket'})`).join(', ')

/** Burn rate over `window`: how many times faster than the objective allows the budget is spent. */
const burn = (slo: Slo, window: string) =>
  q(`max by (job) (slo:sli_error:ratio_rate${window}{${JOB}, slo="${slo.name}"}) / ${budget(slo)}`, `{{job}} ${window}`)

/** The SLOs of grafana/src/slos.ts: error budget left over the period, burn rates and the SLIs. */
export function sloDashboard () {
  let d = dashboard('flashsale-slo', 'Flashsale / SLOs',
    `Service level objectives of checkout and purchase: the ${PERIOD_DAYS}-day error budget left, burn rates over the alert windows, and the SLIs.`,
    { instance: false })
    .withRow(row(`Error budget left (${PERIOD_DAYS} days)`))
  for (const slo of SLOS) {
    d = d.withPanel(stat(slo.name,
      `Share of the ${PERIOD_DAYS}-day error budget not yet spent. Objective: ${objective(slo)}. Below 0 the objective is missed.`,
      'percentunit', q(`min by (job) (slo:error_budget:remaining_ratio{${JOB}, slo="${slo.name}"})`, '{{job}}')))
  }
  d = d.withRow(row('Burn rate'))
  for (const slo of SLOS) {
    d = d.withPanel(timeseries(`${slo.name} burn rate`,
      `How many times faster than the objective (${objective(slo)}) allows the budget is being spent, over each alert window: ` +
        `1 spends it in exactly ${PERIOD_DAYS} days. Alerts need the long and the short window above: ${tiers}.`,
      'short', ['5m', '1h', '6h', '1d', '3d'].map((w) => burn(slo, w))))
  }
  d = d.withRow(row('SLIs'))
  for (const sli of ['availability', 'latency'] as const) {
    const slos = SLOS.filter((s) => s.sli === sli)
    d = d.withPanel(timeseries(sli === 'availability' ? 'Availability: answers not 5xx' : 'Latency: answers within 100 ms',
      `Share of good answers over 5 minutes (499, a client that left, not counted), against the objective: ${slos.map(objective).join('; ')}.`,
      'percentunit', slos.map((slo) => q(`1 - max by (job) (slo:sli_error:ratio_rate5m{${JOB}, slo="${slo.name}"})`, `{{job}} ${slo.name}`))))
  }
  return d
}
