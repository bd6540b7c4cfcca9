import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from '../../src/paths.ts'
import { installed, skipUnlessInstalled } from '../helpers/optional-tools.ts'

const run = promisify(execFile)

t.test('promtool accepts the config and rules, and every alert unit test passes', { skip: skipUnlessInstalled('promtool') }, async (t) => {
  // The SLO tests evaluate days of rules: minutes on a busy machine.
  const { stdout } = await run('bash', [join(ROOT, 'prometheus', 'check.sh')], { timeout: 600_000 })
  t.match(stdout, /prometheus\.yml is valid prometheus config file syntax/)
  t.match(stdout, /SUCCESS: 17 rules found/, 'all alerts load')
  // 4 SLOs x (7 windows + 2 rates + 30-day ratio + budget left) recordings + 4 SLOs x 4 burn tiers
  t.match(stdout, /Checking rules\/slo\.yml\n\s+SUCCESS: 60 rules found/, 'the generated SLO rules load')
  t.match(stdout, /Unit Testing: {2}tests\/alerts\.test\.yml\s+SUCCESS/)
  t.match(stdout, /Unit Testing: {2}tests\/slo\.test\.yml\s+SUCCESS/, 'every burn-rate tier fires exactly when it should')
  if (installed('amtool')) {
    t.match(stdout, /alertmanager routing: critical -> page, warning -> ticket/, 'routing by severity')
    t.match(stdout, /alertmanager routing: SLO fast and high burns -> page, steady and slow burns -> ticket/, 'SLO pages and tickets')
  } else t.match(stdout, /amtool not installed \(Debian: prometheus-alertmanager\)/, 'says how to get the Alertmanager checks')
})

t.test('every alert, the generated SLO alerts included, has a runbook entry in docs/operations.md', async (t) => {
  const dir = join(ROOT, 'prometheus', 'rules')
  const headings = new Set([...readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8').matchAll(/^#{2,3} (.+)$/gm)]
    .map((m) => m[1]!.toLowerCase().replaceAll(/[^a-z0-9 -]/g, '').replaceAll(' ', '-')))
  const alerts = new Map<string, Set<string>>()
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yml'))) {
    const text = readFileSync(join(dir, file), 'utf8')
    for (const rule of text.split(/^ {6}- (?=alert:|record:)/m).filter((r) => r.startsWith('alert:'))) {
      const name = /^alert: (\S+)/.exec(rule)![1]!
      const runbook = /runbook_url: '?docs\/operations\.md#([a-z0-9-]+)'?$/m.exec(rule)?.[1]
      alerts.set(name, (alerts.get(name) ?? new Set()).add(runbook ?? '(none)'))
    }
  }
  t.ok(alerts.size >= 21, `${alerts.size} alert names`)
  for (const [name, runbooks] of alerts) {
    t.same([...runbooks], [name.toLowerCase()], `${name}: runbook_url points at its own entry`)
    t.ok(headings.has(name.toLowerCase()), `${name}: docs/operations.md has the entry`)
  }
})
