import { BURN_TIERS, budget, errorRate, PERIOD_DAYS, round, SLOS, totalRate, WINDOWS, type BurnTier, type Slo } from './slos.ts'

/** Where `npm run dashboards` writes the rules, relative to the repository. */
export const SLO_RULES_FILE = 'prometheus/rules/slo.yml'

interface Rule {
  record?: string
  alert?: string
  expr: string
  labels: Record<string, string>
  annotations?: Record<string, string>
}

const percent = (n: number) => `${round(n * 100)}%`
const anchor = (alert: string) => `docs/operations.md#${alert.toLowerCase()}`

/** Error ratios over every window, the 5-minute rates the budget is summed from, and the budget left. */
function recordings (slo: Slo): Rule[] {
  const labels = { slo: slo.name }
  const sel = `{slo="${slo.name}"}`
  return [
    ...WINDOWS.map((w) => ({ record: `slo:sli_error:ratio_rate${w}`, expr: `${errorRate(slo, w)}\n/ ${totalRate(slo, w)}`, labels })),
    { record: 'slo:sli_requests:rate5m', expr: totalRate(slo, '5m'), labels },
    { record: 'slo:sli_errors:rate5m', expr: errorRate(slo, '5m'), labels },
    // Summed from the 5-minute rates (cheap, and weighted by traffic): no 30-day range over raw series.
    {
      record: `slo:sli_error:ratio_rate${PERIOD_DAYS}d`,
      expr: `sum_over_time(slo:sli_errors:rate5m${sel}[${PERIOD_DAYS}d])\n/ sum_over_time(slo:sli_requests:rate5m${sel}[${PERIOD_DAYS}d])`,
      labels,
    },
    { record: 'slo:error_budget:remaining_ratio', expr: `1 - slo:sli_error:ratio_rate${PERIOD_DAYS}d${sel} / ${budget(slo)}`, labels },
  ]
}

function burnAlert (slo: Slo, tier: BurnTier): Rule {
  const threshold = round(tier.factor * budget(slo))
  const sel = `{slo="${slo.name}"}`
  const days = Number((PERIOD_DAYS / tier.factor).toFixed(1))
  return {
    alert: tier.alert,
    expr: `slo:sli_error:ratio_rate${tier.long}${sel} > ${threshold}\nand on (job, slo)\nslo:sli_error:ratio_rate${tier.short}${sel} > ${threshold}`,
    labels: { severity: tier.severity, slo: slo.name, sli: slo.sli, route: slo.route },
    annotations: {
      summary: `{{ $labels.job }} ${slo.name} burns its error budget ${tier.factor}x too fast`,
      description: `More than ${percent(threshold)} of POST ${slo.route} answers were ${slo.bad} over the last ${tier.over} ` +
        `and still over the last ${tier.short}: ${tier.factor} times the rate the ${percent(slo.objective)} objective allows, ` +
        `which spends the ${PERIOD_DAYS}-day error budget in ${days} days.`,
      runbook_url: anchor(tier.alert),
    },
  }
}

const quote = (s: string) => `'${s.replaceAll('\'', '\'\'')}'`

function yamlRule (rule: Rule): string {
  const head = rule.record ? `      - record: ${rule.record}\n` : `      - alert: ${rule.alert}\n`
  const expr = rule.expr.includes('\n')
    ? `        expr: |\n${rule.expr.split('\n').map((l) => `          ${l}`).join('\n')}\n`
    : `        expr: ${rule.expr}\n`
  const map = (key: string, values: Record<string, string>) =>
    `        ${key}:\n${Object.entries(values).map(([k, v]) => `          ${k}: ${quote(v)}\n`).join('')}`
  return head + expr + map('labels', rule.labels) + (rule.annotations ? map('annotations', rule.annotations) : '')
}

/** The committed prometheus/rules/slo.yml. */
export function renderSloRules (): string {
  const groups = SLOS.map((slo) => {
    const rules = [...recordings(slo), ...BURN_TIERS.map((tier) => burnAlert(slo, tier))]
    return `  - name: flashsale-slo-${slo.name}\n    rules:\n${rules.map(yamlRule).join('\n')}`
  })
  return [
    '# Generated from grafana/src/slos.ts by `npm run dashboards`: edit the SLOs there, not here.',
    '# Error ratios of each SLO over the alert windows, the budget left over the period, and',
    '# multiwindow multi-burn-rate alerts (runbooks in docs/operations.md, unit tests in',
    '# prometheus/tests/slo.test.yml).',
    'groups:',
    groups.join('\n'),
  ].join('\n') + '\n'
}
