import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DASHBOARDS, render } from './dashboards.ts'
import { renderSloRules, SLO_RULES_FILE } from './slo-rules.ts'

/**
 * `npm run dashboards` writes grafana/dashboards/*.json from the builders and the SLO rules
 * (prometheus/rules/slo.yml) from grafana/src/slos.ts; with `--check` it writes nothing and fails
 * when a committed file is out of date.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const outputs: [string, () => string][] = [
  ...Object.keys(DASHBOARDS).map((file): [string, () => string] => [join(root, 'grafana', 'dashboards', file), () => render(file)]),
  [join(root, SLO_RULES_FILE), renderSloRules],
]
const check = process.argv.includes('--check')
let stale = 0
for (const [path, make] of outputs) {
  const text = make()
  if (check) {
    let committed = ''
    try {
      committed = readFileSync(path, 'utf8')
    } catch {}
    if (committed !== text) {
      console.error(`${path} is out of date: run npm run dashboards`)
      stale++
    }
  } else {
    writeFileSync(path, text)
    console.log(`wrote ${path}`)
  }
}
process.exitCode = stale > 0 ? 1 : 0
