import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../src/paths.ts'
import { spawnService } from '../kit/service-process.ts'

/** The oldest Node package.json promises to run on (`engines.node`, as `>=major.minor`). */
const engines = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node as string
const [, major, minor] = /^>=(\d+)\.(\d+)$/.exec(engines)!.map(Number)

/** An empty script under the check `npm start` runs first, on a Node that says it is `version`. */
async function under (t: Test, version: string) {
  const claim = 'data:text/javascript,' +
    `Object.defineProperty(process.versions, 'node', { value: '${version}' });` +
    `Object.defineProperty(process, 'version', { value: 'v${version}' })`
  const run = spawnService(t, process.execPath, ['--import', claim, '--import', './src/require-node.mjs', '-e', ''], {})
  return { exit: await run.exited, output: run.output() }
}

t.test(`a Node older than ${major}.${minor} (engines.node) is refused, with what to install`, async (t) => {
  for (const version of [`${major}.${minor! - 1}.9`, `${major! - 2}.11.0`]) {
    const run = await under(t, version)
    t.same(run.exit, { code: 1, signal: null }, `${version}: exits 1`)
    t.match(run.output, `flashsale needs Node.js ${major}.${minor} or later`, `${version}: names the floor`)
    t.match(run.output, `not v${version}`, `${version}: and the Node it found`)
    t.match(run.output, /install Node 24/, `${version}: and what to install`)
  }
})

t.test(`Node ${major}.${minor} itself passes, silently`, async (t) => {
  t.same(await under(t, `${major}.${minor}.0`), { exit: { code: 0, signal: null }, output: '' })
})
