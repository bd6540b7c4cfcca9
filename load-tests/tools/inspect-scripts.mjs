// Loads each k6 scenario as an ES module under Node, with k6's built-in modules replaced by
// stand-ins, and reports what it exports and what its options add up to for each PROFILE. Each
// module is first parsed as k6 0.48 would (k6-syntax.mjs). Then setup(), one iteration and
// teardown() run against a fake k6/http (fake-http.mjs) that answers like the service and
// records where requests would go: nothing is sent anywhere. handleSummary runs on made-up data.
//   node --experimental-vm-modules load-tests/tools/inspect-scripts.mjs [script.js ...]
// Prints a JSON array; exits 1 when a script does not load or its iteration throws.
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import vm from 'node:vm'
import { fakeHttp } from './fake-http.mjs'
import { syntaxProblem } from './k6-syntax.mjs'

if (typeof vm.SourceTextModule !== 'function') {
  console.error('run with node --experimental-vm-modules')
  process.exit(2)
}

const here = dirname(fileURLToPath(import.meta.url))
const PROFILES = ['smoke', 'load', 'stress']
const BASE_URL = 'http://127.0.0.1:1'

// The names each k6 module exports (k6 0.48+); importing any other name fails to link, as in k6.
const K6 = {
  k6: ['default', 'check', 'fail', 'group', 'sleep', 'randomSeed'],
  'k6/http': ['default', 'request', 'get', 'post', 'put', 'patch', 'del', 'head', 'options', 'batch',
    'asyncRequest', 'expectedStatuses', 'setResponseCallback', 'url', 'file', 'cookieJar', 'CookieJar'],
  'k6/metrics': ['Counter', 'Gauge', 'Rate', 'Trend'],
  'k6/execution': ['default'],
  'k6/data': ['SharedArray'],
  'k6/crypto': ['default', 'randomBytes', 'sha256', 'md5', 'hmac'],
  'k6/encoding': ['default', 'b64encode', 'b64decode'],
}

class Metric {
  constructor (name) { this.name = name }
  add () {}
}

/** Like k6's check(): every condition runs, and the result says whether all held. */
function check (value, conditions) {
  let ok = true
  for (const c of Object.values(conditions)) if (!(typeof c === 'function' ? c(value) : c)) ok = false
  return ok
}

function newExecution () {
  return {
    vu: { idInTest: 1, idInInstance: 1, iterationInInstance: 0, iterationInScenario: 0 },
    scenario: { name: '', executor: '', iterationInTest: 0, iterationInInstance: 0 },
    test: { abort: (why) => { throw new Error(`test.abort(${why ?? ''})`) } },
    instance: {},
  }
}

/** The values k6's modules export, for one load of one script. */
function k6Values (http, execution) {
  const noop = () => undefined
  return {
    k6: { check, fail: (why) => { throw new Error(`fail(${why ?? ''})`) }, group: (_name, fn) => fn(), sleep: noop, randomSeed: noop },
    'k6/http': http,
    'k6/metrics': { Counter: Metric, Gauge: Metric, Rate: Metric, Trend: Metric },
    'k6/execution': { default: execution },
    'k6/data': { SharedArray: class SharedArray { constructor (_n, f) { return f() } } },
  }
}

function stubValue (values, specifier, name) {
  const own = values[specifier] ?? {}
  if (name in own) return own[name]
  if (name === 'default') {
    return Object.fromEntries(K6[specifier].filter((n) => n !== 'default').map((n) => [n, stubValue(values, specifier, n)]))
  }
  return () => undefined
}

function seconds (d) {
  if (d === undefined) return 0
  if (typeof d === 'number') return d / 1000
  let total = 0
  for (const [, n, unit] of String(d).matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(n) * { ms: 0.001, s: 1, m: 60, h: 3600 }[unit]
  }
  return total
}

/** Longest time a scenario may take, graceful stop included, in seconds. */
function scenarioSeconds (s) {
  let run
  switch (s.executor) {
    case 'ramping-vus':
    case 'ramping-arrival-rate':
      run = (s.stages || []).reduce((n, st) => n + seconds(st.duration), 0)
      break
    case 'per-vu-iterations':
    case 'shared-iterations':
      run = seconds(s.maxDuration ?? '10m')
      break
    default:
      run = seconds(s.duration)
  }
  return seconds(s.startTime) + run + seconds(s.gracefulStop ?? '30s')
}

function sourceModule (path, context) {
  const source = readFileSync(path, 'utf8')
  const problem = syntaxProblem(source, path)
  if (problem) throw new SyntaxError(problem)
  return new vm.SourceTextModule(source, { context, identifier: path })
}

async function load (file, profile, values) {
  const context = vm.createContext({
    __ENV: { PROFILE: profile, BASE_URL, ADMIN_TOKEN: 'x'.repeat(16) },
    __VU: 0,
    __ITER: 0,
    console,
  })
  const cache = new Map()
  const moduleFor = (specifier, referrer) => {
    if (specifier in K6) {
      if (!cache.has(specifier)) {
        const names = K6[specifier]
        cache.set(specifier, new vm.SyntheticModule(names, function () {
          for (const n of names) this.setExport(n, stubValue(values, specifier, n))
        }, { context, identifier: specifier }))
      }
      return cache.get(specifier)
    }
    if (!specifier.startsWith('.')) throw new Error(`${referrer}: import of "${specifier}" is neither k6 nor relative`)
    const path = resolve(dirname(referrer), specifier)
    if (!cache.has(path)) cache.set(path, sourceModule(path, context))
    return cache.get(path)
  }
  const root = sourceModule(file, context)
  await root.link((specifier, referencing) => moduleFor(specifier, referencing.identifier))
  await root.evaluate()
  return root.namespace
}

/** setup(), one iteration of the default function and teardown(), as one VU would run them. */
function runOnce (ns, execution) {
  execution.scenario.name = Object.keys(ns.options?.scenarios ?? {})[0] ?? 'default'
  // setup()'s result reaches the iterations as JSON, as in k6.
  const data = JSON.parse(JSON.stringify(ns.setup?.() ?? null))
  ns.default(data)
  ns.teardown?.(data)
}

async function inspect (file) {
  const report = { script: file, profiles: {} }
  try {
    for (const profile of PROFILES) {
      const { http, calls } = fakeHttp()
      const execution = newExecution()
      const ns = await load(file, profile, k6Values(http, execution))
      const options = ns.options ?? null
      runOnce(ns, execution)
      const scenarios = Object.values(options?.scenarios ?? {})
      let summaryOutputs = null
      if (typeof ns.handleSummary === 'function') {
        summaryOutputs = Object.keys(ns.handleSummary({
          metrics: { http_reqs: { type: 'counter', contains: 'default', values: { count: 1, rate: 1 } } },
          root_group: { checks: [], groups: [] },
        }))
      }
      report.profiles[profile] = {
        exports: Object.keys(ns).sort(),
        types: Object.fromEntries(Object.keys(ns).map((k) => [k, typeof ns[k]])),
        executors: scenarios.map((s) => s.executor),
        thresholds: Object.keys(options?.thresholds ?? {}),
        max_seconds: Math.max(0, ...scenarios.map(scenarioSeconds)),
        summary_outputs: summaryOutputs,
        options: JSON.parse(JSON.stringify(options)),
        request_origins: [...new Set(calls.urls.map((u) => new URL(u).origin))].sort(),
        requests: calls.urls.length,
        max_batch: Math.max(0, ...calls.batches),
      }
    }
  } catch (err) {
    report.error = `${err.name}: ${err.message}`
  }
  return report
}

const files = process.argv.length > 2
  ? process.argv.slice(2).map((f) => resolve(f))
  : readdirSync(join(here, '..')).filter((f) => f.endsWith('.js')).sort().map((f) => join(here, '..', f))
const reports = []
for (const file of files) reports.push(await inspect(file))
process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`)
process.exitCode = reports.some((r) => r.error) ? 1 : 0
