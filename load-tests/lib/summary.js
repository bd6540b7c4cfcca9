// handleSummary for every scenario: a JSON file, a readable text file and the text on stdout.

const DIR = (__ENV.SUMMARY_DIR || 'load-tests/results').replace(/\/+$/, '')

/**
 * Every scenario's `summaryTrendStats`: k6 computes only the stats listed there for the summary
 * (its default stops at p(95)), and the text report prints avg, med, p(95), p(99) and max.
 */
export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)']

function fmt (n, unit) {
  if (typeof n !== 'number' || Number.isNaN(n)) return '-'
  if (unit === 'ms') return n >= 1000 ? `${(n / 1000).toFixed(2)}s` : `${n.toFixed(2)}ms`
  if (unit === '%') return `${(n * 100).toFixed(2)}%`
  return Number.isInteger(n) ? String(n) : n.toFixed(2)
}

function metricLine (name, m) {
  const v = m.values
  switch (m.type) {
    case 'trend': {
      const unit = m.contains === 'time' ? 'ms' : ''
      return `${name}: avg=${fmt(v.avg, unit)} med=${fmt(v.med, unit)} p(95)=${fmt(v['p(95)'], unit)} ` +
        `p(99)=${fmt(v['p(99)'], unit)} max=${fmt(v.max, unit)}`
    }
    case 'rate':
      return `${name}: ${fmt(v.rate, '%')} (${v.passes} of ${v.passes + v.fails})`
    case 'counter':
      return `${name}: ${fmt(v.count)} (${fmt(v.rate)}/s)`
    default:
      return `${name}: ${fmt(v.value)}`
  }
}

/** A plain-text report: thresholds first (what decides pass or fail), then every metric. */
export function textReport (name, data) {
  const lines = [`flashsale k6 scenario: ${name} (profile ${__ENV.PROFILE || 'smoke'})`, '']
  const metrics = Object.entries(data.metrics).sort(([a], [b]) => a.localeCompare(b))
  const failed = []
  lines.push('thresholds:')
  for (const [metric, m] of metrics) {
    for (const [expr, t] of Object.entries(m.thresholds || {})) {
      lines.push(`  ${t.ok ? 'ok  ' : 'FAIL'} ${metric} ${expr}`)
      if (!t.ok) failed.push(`${metric} ${expr}`)
    }
  }
  lines.push('', 'metrics:')
  for (const [metric, m] of metrics) lines.push(`  ${metricLine(metric, m)}`)
  const checks = data.root_group ? collectChecks(data.root_group) : []
  if (checks.length > 0) {
    lines.push('', 'checks:')
    for (const c of checks) lines.push(`  ${c.fails === 0 ? 'ok  ' : 'FAIL'} ${c.name} (${c.passes} passed, ${c.fails} failed)`)
  }
  lines.push('', failed.length === 0 ? 'RESULT: all thresholds passed' : `RESULT: ${failed.length} threshold(s) failed`)
  return `${lines.join('\n')}\n`
}

function collectChecks (group) {
  const out = [...(group.checks || [])]
  for (const g of group.groups || []) out.push(...collectChecks(g))
  return out
}

/** Use as `export const handleSummary = summaryFor('smoke')`. */
export function summaryFor (name) {
  return (data) => {
    const text = textReport(name, data)
    return {
      stdout: text,
      [`${DIR}/${name}-summary.json`]: JSON.stringify(data, null, 2),
      [`${DIR}/${name}-summary.txt`]: text,
    }
  }
}
