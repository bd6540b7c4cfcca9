import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { skipUnlessInstalled } from '../helpers/optional-tools.ts'
import { ROOT } from '../../src/paths.ts'

const COMPOSE = join(ROOT, 'docker-compose.yml')
const run = promisify(execFile)

/** Top-level service blocks of the compose file, by name (the file keeps two-space indents). */
function serviceBlocks (text: string): Map<string, string> {
  const body = text.split(/^services:\n/m)[1]!.split(/^\S/m)[0]!
  const blocks = new Map<string, string>()
  for (const part of body.split(/^(?= {2}[a-z0-9-]+:\s*$)/m)) {
    const name = /^ {2}([a-z0-9-]+):/.exec(part)?.[1]
    if (name) blocks.set(name, part)
  }
  return blocks
}

t.test('docker-compose.yml is valid for docker-compose', { skip: skipUnlessInstalled('docker-compose') }, async (t) => {
  const { stdout } = await run('docker-compose', ['-f', COMPOSE, 'config'], { cwd: ROOT, timeout: 60_000 })
  t.match(stdout, /services:/, 'config prints the resolved file')
  const services = (await run('docker-compose', ['-f', COMPOSE, 'config', '--services'], { cwd: ROOT })).stdout
    .split('\n').filter(Boolean).sort()
  t.same(services, ['alertmanager', 'app1', 'app2', 'grafana', 'k6', 'migrate', 'postgres', 'prometheus', 'redis'])
})

t.test('the stack is wired as documented', async (t) => {
  const text = readFileSync(COMPOSE, 'utf8')
  const blocks = serviceBlocks(text)
  for (const name of ['redis', 'postgres', 'prometheus', 'alertmanager', 'grafana']) {
    t.match(blocks.get(name), /healthcheck:/, `${name} has a health check`)
  }
  t.match(text, /x-flashsale: &flashsale[\s\S]*healthcheck:[\s\S]*health\/ready/, 'service instances are checked on /health/ready')
  for (const app of ['app1', 'app2']) t.match(blocks.get(app), /<<: \*flashsale/, `${app} is an instance of the service`)
  t.match(text, /redis:\s*\n\s*condition: service_healthy/, 'instances wait for a healthy Redis')
  t.match(text, /postgres:\s*\n\s*condition: service_healthy/, 'instances wait for a healthy Postgres')
  t.match(text, /migrate:\s*\n\s*condition: service_completed_successfully/, 'instances wait for the migrations')
  t.match(blocks.get('redis'), /--appendonly", "yes"/, 'Redis keeps an append-only file')
  t.match(blocks.get('k6'), /profiles: \[k6\]/, 'k6 runs only under its profile')
  t.match(blocks.get('k6'), /\$\{K6_SCENARIO:-smoke\}\.js/, 'the k6 scenario is chosen by K6_SCENARIO')

  const mounts = [...text.matchAll(/- \.\/([^:\s]+):/g)].map((m) => m[1]!)
  t.ok(mounts.length >= 6, 'mounts files from the repository')
  for (const path of mounts) t.ok(existsSync(join(ROOT, path)), `mounted path ${path} exists`)
  for (const path of ['prometheus/rules', 'prometheus/alertmanager.yml', 'grafana/provisioning/dashboards', 'grafana/dashboards']) {
    t.ok(mounts.includes(path), `mounts ${path}`)
  }
})

t.test('the Dockerfile runs the sources as they are, with production dependencies only, as a non-root user', async (t) => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
  t.ok((dockerfile.match(/^FROM node:24-slim/gm) ?? []).length >= 2, 'multi-stage on the Node 24 LTS slim image')
  t.match(dockerfile, /npm ci/, 'installs from the lockfile')
  for (const install of dockerfile.match(/npm ci[^\n]*/g) ?? []) {
    t.match(install, /--omit=optional/, `never installs the embedded Postgres: ${install}`)
  }
  t.notMatch(dockerfile, /\btsc\b|dist\//, 'no build step, nothing compiled')
  t.match(dockerfile, /--omit=dev/, 'production dependencies only')
  const runtime = dockerfile.split(/^FROM .* AS runtime$/m)[1] ?? ''
  t.match(runtime, /^COPY .* src \.\/src$/m, 'the sources as they are')
  t.match(runtime, /^CMD \["node", "src\/start\.ts"\]$/m, 'run by Node itself')
  t.match(runtime, /^USER node$/m, 'the runtime stage drops root')
  t.match(runtime, /^HEALTHCHECK /m, 'declares a health check')
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')
  for (const p of ['node_modules', '.git']) t.ok(ignored.includes(p), `.dockerignore leaves out ${p}`)
})
