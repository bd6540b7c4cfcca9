import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from '../../src/paths.ts'
import { installed, skipUnlessInstalled } from '../helpers/optional-tools.ts'

const run = promisify(execFile)

t.test('promtool accepts the config and rules, and every alert unit test passes', { skip: skipUnlessInstalled('promtool') }, async (t) => {
  const { stdout } = await run('bash', [join(ROOT, 'prometheus', 'check.sh')], { timeout: 60_000 })
  t.match(stdout, /prometheus\.yml is valid prometheus config file syntax/)
  t.match(stdout, /SUCCESS: 17 rules found/, 'all alerts load')
  t.match(stdout, /Unit Testing: {2}tests\/alerts\.test\.yml\s+SUCCESS/)
  if (installed('amtool')) t.match(stdout, /alertmanager routing: critical -> page, warning -> ticket/, 'routing by severity')
  else t.match(stdout, /amtool not installed \(Debian: prometheus-alertmanager\)/, 'says how to get the Alertmanager checks')
})
