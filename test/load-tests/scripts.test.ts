import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

const ROOT = join(import.meta.dirname, '..', '..')
const DIR = join(ROOT, 'load-tests')
const INSPECT = join(DIR, 'tools', 'inspect-scripts.mjs')
const REQUIRED = ['smoke', 'checkout-storm', 'full-flow', 'double-submit', 'spike', 'soak']

interface ProfileReport {
  exports: string[]
  types: Record<string, string>
  executors: string[]
  thresholds: string[]
  max_seconds: number
  summary_outputs: string[] | null
}
interface Report {
  script: string
  error?: string
  profiles: Record<string, ProfileReport>
}

/** Runs the inspector (k6 modules stubbed, init code only) and returns its report and exit code. */
async function inspect(files: string[]): Promise<{ reports: Report[]; code: number }> {
  const run = promisify(execFile)
  const args = ['--experimental-vm-modules', '--no-warnings', INSPECT, ...files]
  try {
    const { stdout } = await run(process.execPath, args, { timeout: 60_000 })
    return { reports: JSON.parse(stdout), code: 0 }
  } catch (err) {
    const e = err as { stdout?: string; code?: number }
    if (!e.stdout) throw err
    return { reports: JSON.parse(e.stdout), code: e.code ?? 1 }
  }
}

t.test('every k6 scenario loads as an ES module and exports what k6 runs', async (t) => {
  const scripts = readdirSync(DIR).filter((f) => f.endsWith('.js')).sort()
  for (const name of REQUIRED) t.ok(scripts.includes(`${name}.js`), `load-tests/${name}.js exists`)

  const { reports, code } = await inspect(scripts.map((f) => join(DIR, f)))
  t.equal(code, 0, 'the inspector loads every script')
  t.equal(reports.length, scripts.length)
  for (const r of reports) {
    const name = r.script.split('/').pop()!.replace(/\.js$/, '')
    t.test(name, async (t) => {
      t.notOk(r.error, 'loads without error')
      t.same(Object.keys(r.profiles).sort(), ['load', 'smoke', 'stress'], 'evaluates under every PROFILE')
      for (const [profile, p] of Object.entries(r.profiles)) {
        for (const fn of ['default', 'setup', 'teardown', 'handleSummary']) {
          t.equal(p.types[fn], 'function', `${profile}: exports ${fn}() as a function`)
        }
        t.equal(p.types.options, 'object', `${profile}: exports options`)
        t.ok(p.executors.length > 0, `${profile}: defines scenarios`)
        t.ok(p.thresholds.some((k) => /^http_req_duration\{endpoint:\w+\}$/.test(k)), `${profile}: latency thresholds per endpoint`)
        t.ok(p.thresholds.some((k) => /^http_req_failed\{endpoint:\w+\}$/.test(k)), `${profile}: failure-rate thresholds per endpoint`)
        t.ok(p.thresholds.includes('sale_invariant_violations'), `${profile}: teardown invariants gate the run`)
        t.same(
          [...(p.summary_outputs ?? [])].sort(),
          ['stdout', `load-tests/results/${name}-summary.json`, `load-tests/results/${name}-summary.txt`].sort(),
          `${profile}: handleSummary writes JSON, text and stdout`,
        )
      }
      t.ok(r.profiles.smoke!.max_seconds < 60, `smoke profile finishes in under a minute (${r.profiles.smoke!.max_seconds} s)`)
    })
  }
  const storm = reports.find((r) => r.script.endsWith('checkout-storm.js'))
  t.ok(storm?.profiles.load?.executors.every((e) => e.endsWith('arrival-rate')), 'the checkout storm uses an arrival-rate executor')
})

t.test('the inspector rejects a script that does not parse or imports what k6 lacks', async (t) => {
  const dir = t.testdir({
    'broken.js': 'export default function ( {\n',
    'bad-import.js': "import { nope } from 'k6/http'\nexport default function () {}\nexport const options = {}\n",
    'remote.js': "import x from 'https://example.invalid/x.js'\nexport default function () {}\n",
  })
  const { reports, code } = await inspect(['broken.js', 'bad-import.js', 'remote.js'].map((f) => join(dir, f)))
  t.equal(code, 1, 'exits non-zero')
  t.match(reports[0]!.error, /SyntaxError/)
  t.match(reports[1]!.error, /nope/)
  t.match(reports[2]!.error, /neither k6 nor relative/)
})
