import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { DASHBOARDS, render } from '../../grafana/src/dashboards.ts'
import { renderSloRules, SLO_RULES_FILE } from '../../grafana/src/slo-rules.ts'
import { BURN_TIERS, SLOS } from '../../grafana/src/slos.ts'
import { ROOT } from '../../src/paths.ts'

const DIR = join(ROOT, 'grafana', 'dashboards')

interface Panel {
  type: string
  title: string
  description?: string
  targets?: { expr: string; exemplar?: boolean }[]
}

t.test('committed dashboards are exactly what grafana/src generates', async (t) => {
  t.same(readdirSync(DIR).filter((f) => f.endsWith('.json')).sort(), Object.keys(DASHBOARDS).sort(),
    'one committed file per dashboard, none stale')
  for (const file of Object.keys(DASHBOARDS)) {
    t.equal(readFileSync(join(DIR, file), 'utf8'), render(file), `${file} is up to date (npm run dashboards)`)
  }
})

/** The variables of each dashboard: the SLOs are the service's (no instance); the load test picks a k6 run. */
const VARIABLES: Record<string, string[]> = {
  'slo.json': ['datasource', 'job'],
  'load-test.json': ['datasource', 'job', 'instance', 'testid'],
}

t.test('every panel queries Prometheus through the variables of its dashboard', async (t) => {
  const uids = new Set<string>()
  for (const file of Object.keys(DASHBOARDS)) {
    const d = JSON.parse(render(file)) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } }
    t.notOk(uids.has(d.uid), `${file}: unique uid`)
    uids.add(d.uid)
    const variables = VARIABLES[file] ?? ['datasource', 'job', 'instance']
    t.same(d.templating.list.map((v) => v.name), variables, `${file}: variables`)
    // k6's series carry its run's testid, not job or instance (k6 writes them, nothing scrapes them).
    const service = variables.includes('instance') ? /job=~"\$job", instance=~"\$instance"/ : /job=~"\$job"/
    const panels = d.panels.filter((p) => p.type !== 'row')
    t.ok(panels.length >= 5, `${file}: has panels`)
    for (const p of panels) {
      t.ok(p.description, `${file} / ${p.title}: described`)
      t.ok(p.targets && p.targets.length > 0, `${file} / ${p.title}: has queries`)
      for (const { expr } of p.targets ?? []) {
        if (/\bk6_/.test(expr)) {
          t.ok(variables.includes('testid'), `${file} / ${p.title}: a k6 query on a dashboard that picks the run`)
          t.match(expr, /^[^{]*(?:\{[^}]*testid=~"\$testid"[^}]*\}[^{]*)+$/, `${file} / ${p.title}: every k6 selector filtered by the run`)
        } else t.match(expr, service, `${file} / ${p.title}: filtered by the variables`)
      }
    }
  }
})

t.test('the SLO dashboard shows every SLO of grafana/src/slos.ts: budget left and burn rate', async (t) => {
  const d = JSON.parse(render('slo.json')) as { panels: Panel[] }
  for (const slo of SLOS) {
    const about = d.panels.filter((p) => p.targets?.some(({ expr }) => expr.includes(`slo="${slo.name}"`)))
    t.ok(about.some((p) => p.targets!.some(({ expr }) => expr.includes('slo:error_budget:remaining_ratio'))), `${slo.name}: budget left`)
    for (const tier of BURN_TIERS) {
      t.ok(about.some((p) => p.targets!.some(({ expr }) => expr.includes(`slo:sli_error:ratio_rate${tier.long}{`))),
        `${slo.name}: burn rate over ${tier.long}, the window of ${tier.alert}`)
    }
  }
})

t.test('the latency panels carry exemplars, so a slow point links to its trace', async (t) => {
  for (const [file, title] of [['golden-signals.json', 'Latency p50 / p95 / p99 by route'], ['load-test.json', 'Checkout latency: k6 and the service']]) {
    const panel = (JSON.parse(render(file!)) as { panels: Panel[] }).panels.find((p) => p.title === title)
    const histogram = panel?.targets?.filter((q) => q.expr.includes('http_request_duration_seconds_bucket')) ?? []
    t.ok(histogram.length > 0, `${file} / ${title}: reads the route histogram`)
    t.ok(histogram.every((q) => q.exemplar === true), `${file} / ${title}: asks for exemplars`)
  }
})

t.test('npm run dashboards also writes the SLO rules: the committed file is current, its alerts the declared tiers', async (t) => {
  t.equal(readFileSync(join(ROOT, SLO_RULES_FILE), 'utf8'), renderSloRules(), `${SLO_RULES_FILE} is up to date (npm run dashboards)`)
  const rules = renderSloRules()
  for (const slo of SLOS) {
    for (const tier of BURN_TIERS) {
      const threshold = Number((tier.factor * (1 - slo.objective)).toPrecision(6))
      t.match(rules, `slo:sli_error:ratio_rate${tier.long}{slo="${slo.name}"} > ${threshold}\n          and on (job, slo)\n          slo:sli_error:ratio_rate${tier.short}{slo="${slo.name}"} > ${threshold}`,
        `${slo.name}: ${tier.alert} at ${tier.factor}x over ${tier.long} and ${tier.short}`)
    }
  }
})
