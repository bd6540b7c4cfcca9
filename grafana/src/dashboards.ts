import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard'
import { dependencies } from './dependencies.ts'
import { flashSale } from './flash-sale.ts'
import { goldenSignals } from './golden-signals.ts'
import { loadTest } from './load-test.ts'
import { locks } from './locks.ts'
import { sloDashboard } from './slo.ts'

/** Every dashboard, by the file it is committed as in grafana/dashboards/. */
export const DASHBOARDS: Record<string, () => { build(): Dashboard }> = {
  'golden-signals.json': goldenSignals,
  'flash-sale.json': flashSale,
  'locks.json': locks,
  'dependencies.json': dependencies,
  'slo.json': sloDashboard,
  'load-test.json': loadTest,
}

/** The committed form of a dashboard: stable key order from the builder, two-space JSON. */
export function render (file: string): string {
  const make = DASHBOARDS[file]
  if (!make) throw new Error(`no dashboard named ${file}`)
  return `${JSON.stringify(make().build(), null, 2)}\n`
}
