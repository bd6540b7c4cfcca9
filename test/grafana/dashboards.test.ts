import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { DASHBOARDS, render } from '../../grafana/src/dashboards.ts'
import { ROOT } from '../../src/paths.ts'

const DIR = join(ROOT, 'grafana', 'dashboards')

interface Panel {
  type: string
  title: string
  description?: string
  targets?: { expr: string }[]
}

t.test('committed dashboards are exactly what grafana/src generates', async (t) => {
  t.same(readdirSync(DIR).filter((f) => f.endsWith('.json')).sort(), Object.keys(DASHBOARDS).sort(),
    'one committed file per dashboard, none stale')
  for (const file of Object.keys(DASHBOARDS)) {
    t.equal(readFileSync(join(DIR, file), 'utf8'), render(file), `${file} is up to date (npm run dashboards)`)
  }
})

t.test('every panel queries Prometheus through the job and instance variables', async (t) => {
  const uids = new Set<string>()
  for (const file of Object.keys(DASHBOARDS)) {
    const d = JSON.parse(render(file)) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } }
    t.notOk(uids.has(d.uid), `${file}: unique uid`)
    uids.add(d.uid)
    t.same(d.templating.list.map((v) => v.name), ['datasource', 'job', 'instance'], `${file}: variables`)
    const panels = d.panels.filter((p) => p.type !== 'row')
    t.ok(panels.length >= 6, `${file}: has panels`)
    for (const p of panels) {
      t.ok(p.description, `${file} / ${p.title}: described`)
      t.ok(p.targets && p.targets.length > 0, `${file} / ${p.title}: has queries`)
      for (const { expr } of p.targets ?? []) {
        t.match(expr, /job=~"\$job", instance=~"\$instance"/, `${file} / ${p.title}: filtered by the variables`)
      }
    }
  }
})
