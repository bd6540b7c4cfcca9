import { execFile } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { ROOT } from '../../src/paths.ts'

const DIR = join(ROOT, 'load-tests')
const INSPECT = join(DIR, 'tools', 'inspect-scripts.mjs')
const CHECK_SYNTAX = join(DIR, 'tools', 'check-syntax.mjs')
const REQUIRED = ['smoke', 'checkout-storm', 'full-flow', 'double-submit', 'spike', 'soak', 'connection-burst']
// The BASE_URL the inspector gives every script; no request may go anywhere else.
const BASE_URL = 'http://127.0.0.1:1'
// What k6 0.48 uses when a script does not say.
const K6_DEFAULT_BATCH = 20
const K6_DEFAULT_BATCH_PER_HOST = 6
// The trend stats lib/summary.js prints for every trend.
const PRINTED_TREND_STATS = ['avg', 'med', 'p(95)', 'p(99)', 'max']

interface Scenario {
  executor: string
  rate?: number
  timeUnit?: string
  duration?: string
  preAllocatedVUs?: number
  maxVUs?: number
  startRate?: number
  stages?: { target: number }[]
}
interface Options {
  scenarios: Record<string, Scenario>
  thresholds: Record<string, string[]>
  summaryTrendStats?: string[]
  batch?: number
  batchPerHost?: number
  noConnectionReuse?: boolean
}
interface ProfileReport {
  exports: string[]
  types: Record<string, string>
  executors: string[]
  thresholds: string[]
  max_seconds: number
  summary_outputs: string[] | null
  options: Options
  request_origins: string[]
  requests: number
  max_batch: number
}
interface Report {
  script: string
  error?: string
  profiles: Record<string, ProfileReport>
}

const run = promisify(execFile)

/** Runs a Node tool and returns its exit code and output, whether it succeeds or not. */
async function node (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number }
    if (typeof e.code !== 'number') throw err
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

/** Runs the inspector (k6 modules stubbed, nothing sent) and returns its report and exit code. */
async function inspect (files: string[]): Promise<{ reports: Report[]; code: number }> {
  const { code, stdout } = await node(['--experimental-vm-modules', '--no-warnings', INSPECT, ...files])
  return { reports: JSON.parse(stdout) as Report[], code }
}

const scripts = readdirSync(DIR).filter((f) => f.endsWith('.js')).sort()
let inspection: ReturnType<typeof inspect> | undefined
/** The inspector's report on every scenario, run once and shared by the tests below. */
const inspectScripts = () => (inspection ??= inspect(scripts.map((f) => join(DIR, f))))
const scriptName = (r: Report) => r.script.split('/').pop()!.replace(/\.js$/, '')
const byName = async (name: string) => (await inspectScripts()).reports.find((r) => scriptName(r) === name)

t.test('every file k6 loads parses as k6 0.48 parses it (ES2017 modules)', async (t) => {
  const { code, stdout, stderr } = await node([CHECK_SYNTAX])
  t.equal(code, 0, `check-syntax passes${stderr ? `:\n${stderr}` : ''}`)
  t.match(stdout, /^\d+ k6 files parse as ES2017 modules/)
  // The scenarios and lib/ at least; a miscount here means files were skipped.
  const lib = readdirSync(join(DIR, 'lib')).filter((f) => f.endsWith('.js'))
  t.equal(Number(stdout.split(' ')[0]), scripts.length + lib.length, 'every scenario and every lib/ module is checked')
})

t.test('the syntax check rejects what k6 0.48 rejects, though Node parses it', async (t) => {
  const newer: Record<string, string> = {
    'object-spread.js': 'const a = {}\nexport const b = { ...a }\n',
    'object-rest.js': 'const { a, ...rest } = {}\nexport default rest\n',
    'numeric-separator.js': 'export const n = 10_000\n',
    'optional-chaining.js': 'const a = {}\nexport const b = a?.b\n',
    'nullish.js': 'export const b = null ?? 1\n',
    'catch-binding.js': 'try { JSON.parse("") } catch { }\nexport default 1\n',
    'class-field.js': 'export class A { x = 1 }\n',
    'async-generator.js': 'export async function* g() {}\n',
  }
  const dir = t.testdir({
    ...newer,
    'es2017.js': 'export async function f(a, b,) { return a ** b }\nexport const o = Object.assign({}, { a: 1 }, )\n',
    'broken.js': 'export default function ( {\n',
  })
  for (const [file, source] of Object.entries(newer)) {
    const { code, stderr } = await node([CHECK_SYNTAX, join(dir, file)])
    t.equal(code, 1, `${file}: rejected`)
    t.match(stderr, new RegExp(`${file.replace('.', '\\.')}:\\d+:\\d+: .*newer than ES2017`), `${file}: says where and why`)
    // eslint-disable-next-line no-new-func -- parsing only: the body is never called
    t.doesNotThrow(() => new Function(source.replace(/export (default )?/g, '')), `${file}: Node would accept it`)
  }
  const ok = await node([CHECK_SYNTAX, join(dir, 'es2017.js')])
  t.equal(ok.code, 0, 'ES2017 (async functions, trailing commas, **) passes')
  const broken = await node([CHECK_SYNTAX, join(dir, 'broken.js')])
  t.equal(broken.code, 1, 'a plain syntax error fails too')
  t.notMatch(broken.stderr, /newer than ES2017/, 'and is not blamed on the ES level')
})

t.test('every k6 scenario loads as an ES module and exports what k6 runs', async (t) => {
  for (const name of REQUIRED) t.ok(scripts.includes(`${name}.js`), `load-tests/${name}.js exists`)

  const { reports, code } = await inspectScripts()
  t.equal(code, 0, 'the inspector loads every script')
  t.equal(reports.length, scripts.length)
  for (const r of reports) {
    const name = scriptName(r)
    t.test(name, async (t) => {
      t.notOk(r.error, 'loads and runs an iteration without error')
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
          `${profile}: handleSummary writes JSON, text and stdout`
        )
        const stats = p.options.summaryTrendStats ?? []
        t.ok(stats.includes('p(99)'), `${profile}: summaryTrendStats asks for p(99)`)
        t.same(PRINTED_TREND_STATS.filter((s) => !stats.includes(s)), [], `${profile}: the summary prints only stats k6 computes`)
        t.ok(p.requests > 0, `${profile}: an iteration sends requests`)
        t.same(p.request_origins, [BASE_URL], `${profile}: every request goes to BASE_URL`)
        t.ok(p.max_batch <= (p.options.batchPerHost ?? K6_DEFAULT_BATCH_PER_HOST), `${profile}: a batch of ${p.max_batch} runs at once on one host`)
        t.ok(p.max_batch <= (p.options.batch ?? K6_DEFAULT_BATCH), `${profile}: a batch of ${p.max_batch} runs at once in all`)
        for (const s of Object.values(p.options.scenarios)) {
          if (s.executor.endsWith('arrival-rate')) t.ok(Number.isInteger(s.maxVUs), `${profile}: arrival rate capped by maxVUs`)
        }
      }
      t.ok(r.profiles.smoke!.max_seconds < 60, `smoke profile finishes in under a minute (${r.profiles.smoke!.max_seconds} s)`)
    })
  }
  const storm = await byName('checkout-storm')
  t.ok(storm?.profiles.load?.executors.every((e) => e.endsWith('arrival-rate')), 'the checkout storm uses an arrival-rate executor')
})

t.test('every arrival-rate scenario has VUs for its peak arrivals at its latency bounds', async (t) => {
  for (const name of REQUIRED) {
    const r = await byName(name)
    for (const [profile, p] of Object.entries(r?.profiles ?? {})) {
      for (const [scenario, s] of Object.entries(p.options.scenarios).filter(([, s]) => s.executor.endsWith('arrival-rate'))) {
        const perSecond = (s.stages ?? []).reduce((peak, stage) => Math.max(peak, stage.target), s.rate ?? s.startRate ?? 0) /
          (Number.parseInt(s.timeUnit ?? '1s') || 1)
        // The slowest endpoint's p99 bound: past it the run fails, so in flight = rate x bound is the most it needs.
        const p99 = Math.max(...Object.entries(p.options.thresholds).filter(([k]) => k.startsWith('http_req_duration{'))
          .flatMap(([, v]) => v.map((x) => /^p\(99\)<=?(\d+)$/.exec(x)?.[1]).filter(Boolean).map(Number)))
        const where = `${name} ${profile} ${scenario}: ${perSecond}/s`
        t.ok(s.maxVUs! >= Math.ceil(perSecond * p99 / 1000), `${where} x p99 ${p99} ms: maxVUs ${s.maxVUs}`)
        t.ok(s.preAllocatedVUs! >= 1 && s.preAllocatedVUs! <= s.maxVUs!, `${where}: preAllocatedVUs ${s.preAllocatedVUs} within 1..maxVUs`)
      }
    }
  }
  const burst = (await byName('connection-burst'))?.profiles.load?.options.scenarios.connection_burst
  t.equal(burst?.rate, 2000, 'the load profile keeps 2,000 new connections a second')
})

t.test('arrivalVUs sizes VUs by Little\'s law and refuses what cannot be sized', async (t) => {
  const { arrivalVUs, peakRate } = await import(join(DIR, 'lib', 'vus.js')) as {
    arrivalVUs: (rate: number, typicalMs: number, worstMs: number) => { preAllocatedVUs: number; maxVUs: number }
    peakRate: (startRate: number, stages: { target: number }[]) => number
  }
  t.same(arrivalVUs(2000, 250, 1000), { preAllocatedVUs: 500, maxVUs: 2000 }, '2,000 a second at 250 ms typical, 1 s worst')
  t.same(arrivalVUs(2000, 350, 350), { preAllocatedVUs: 700, maxVUs: 700 }, 'the measured case: 700 VUs busy')
  t.same(arrivalVUs(3, 100, 150), { preAllocatedVUs: 1, maxVUs: 1 }, 'rounded up, never 0')
  t.equal(peakRate(50, [{ target: 100 }, { target: 400 }, { target: 20 }]), 400, 'the peak of the stages')
  t.equal(peakRate(50, []), 50, 'or the start rate')
  for (const bad of [[0, 100, 200], [100, 0, 200], [100, 300, 200], [Number.NaN, 1, 1]] as [number, number, number][]) {
    t.throws(() => arrivalVUs(bad[0], bad[1], bad[2]), /arrivalVUs needs/, `refuses ${bad}`)
  }
})

t.test('double-submit sends its whole burst at once', async (t) => {
  const r = await byName('double-submit')
  t.same(Object.keys(r?.profiles ?? {}).sort(), ['load', 'smoke', 'stress'], 'double-submit.js was inspected under every PROFILE')
  for (const [profile, p] of Object.entries(r?.profiles ?? {})) {
    t.ok(p.max_batch >= 2, `${profile}: one iteration sends a burst (${p.max_batch} requests)`)
    t.ok((p.options.batchPerHost ?? 0) >= p.max_batch, `${profile}: batchPerHost ${p.options.batchPerHost} >= burst ${p.max_batch}`)
  }
})

t.test('connection-burst opens a new connection per checkout, 2,000 a second under load, bounded', async (t) => {
  const r = await byName('connection-burst')
  t.same(Object.keys(r?.profiles ?? {}).sort(), ['load', 'smoke', 'stress'], 'connection-burst.js was inspected under every PROFILE')
  for (const [profile, p] of Object.entries(r?.profiles ?? {})) {
    t.equal(p.options.noConnectionReuse, true, `${profile}: noConnectionReuse (no keep-alive)`)
    const scenarios = Object.values(p.options.scenarios)
    t.equal(scenarios.length, 1, `${profile}: one scenario`)
    const s = scenarios[0]!
    t.equal(s.executor, 'constant-arrival-rate', `${profile}: constant arrival rate`)
    // Smoke runs with k6 on the service's own two cores, within the default per-address limit.
    t.equal(s.rate, profile === 'smoke' ? 500 : 2000, `${profile}: ${s.rate} iterations...`)
    t.same({ pre: s.preAllocatedVUs, max: s.maxVUs }, { pre: s.rate! / 4, max: s.rate }, `${profile}: VUs for 250 ms typical, 1 s worst`)
    t.equal(s.timeUnit, '1s', `${profile}: ...a second`)
    t.ok(p.max_seconds < 600, `${profile}: bounded in time (${p.max_seconds} s)`)
    t.same(p.options.thresholds['http_req_duration{endpoint:checkout}']?.filter((x) => /^p\(99\)/.test(x)), ['p(99)<=1000'], `${profile}: client p99 <= 1 s`)
    t.ok(p.options.thresholds['http_req_failed{endpoint:checkout}']?.length, `${profile}: failures gate the run`)
  }
})

t.test('the inspector rejects a script that does not parse or imports what k6 lacks', async (t) => {
  const dir = t.testdir({
    'broken.js': 'export default function ( {\n',
    'bad-import.js': "import { nope } from 'k6/http'\nexport default function () {}\nexport const options = {}\n",
    'remote.js': "import x from 'https://example.invalid/x.js'\nexport default function () {}\n",
    'too-new.js': "import { b } from './lib/spread.js'\nexport default function () { return b }\n",
    lib: { 'spread.js': 'const a = {}\nexport const b = { ...a }\n' },
    'throws.js': "import http from 'k6/http'\nexport default function () { http.get('http://127.0.0.1:1/sale').json('x').y.z }\n",
  })
  const files = ['broken.js', 'bad-import.js', 'remote.js', 'too-new.js', 'throws.js']
  const { reports, code } = await inspect(files.map((f) => join(dir, f)))
  t.equal(code, 1, 'exits non-zero')
  t.match(reports[0]!.error, /SyntaxError/)
  t.match(reports[1]!.error, /nope/)
  t.match(reports[2]!.error, /neither k6 nor relative/)
  t.match(reports[3]!.error, /SyntaxError: .*lib\/spread\.js:2:\d+: .*newer than ES2017/, 'an imported module is parsed as k6 would')
  t.match(reports[4]!.error, /TypeError/, 'an iteration that throws is reported')
})
