import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DASHBOARDS, render } from './dashboards.ts'

/**
 * `npm run dashboards` writes grafana/dashboards/*.json from the builders;
 * with `--check` it writes nothing and fails when a committed file is out of date.
 */
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboards')
const check = process.argv.includes('--check')
let stale = 0
for (const file of Object.keys(DASHBOARDS)) {
  const path = join(out, file)
  const json = render(file)
  if (check) {
    let committed = ''
    try {
      committed = readFileSync(path, 'utf8')
    } catch {}
    if (committed !== json) {
      console.error(`${path} is out of date: run npm run dashboards`)
      stale++
    }
  } else {
    writeFileSync(path, json)
    console.log(`wrote ${path}`)
  }
}
process.exitCode = stale > 0 ? 1 : 0
