import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { skipUnlessInstalled } from '../helpers/optional-tools.ts'
import { startRedisCluster } from '../helpers/redis-cluster.ts'
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

const DEFAULT_STACK = ['alertmanager', 'app1', 'app2', 'grafana', 'jaeger', 'migrate', 'postgres', 'prometheus', 'redis']
const CLUSTER_NODES = [1, 2, 3, 4, 5, 6].map((n) => `redis-cluster-${n}`)
const CLUSTER_PROFILE = [...CLUSTER_NODES, 'redis-cluster-init', 'cluster-database', 'cluster-migrate', 'cluster-app1', 'cluster-app2']

/** The file as docker-compose resolves it (anchors merged), by service. */
async function resolved (...args: string[]): Promise<Map<string, string>> {
  const { stdout } = await run('docker-compose', ['-f', COMPOSE, ...args, 'config'], { cwd: ROOT, timeout: 60_000 })
  return serviceBlocks(stdout)
}

/** The value of a one-line environment variable in a resolved service block. */
function envOf (block: string | undefined, name: string): string | undefined {
  return new RegExp(`^ {6}${name}: (.*)$`, 'm').exec(block ?? '')?.[1]
}

t.test('docker-compose.yml is valid for docker-compose', { skip: skipUnlessInstalled('docker-compose') }, async (t) => {
  const { stdout } = await run('docker-compose', ['-f', COMPOSE, 'config'], { cwd: ROOT, timeout: 60_000 })
  t.match(stdout, /services:/, 'config prints the resolved file')
  await run('docker-compose', ['-f', COMPOSE, '--profile', 'cluster', 'config', '-q'], { cwd: ROOT, timeout: 60_000 })
  t.pass('valid with the cluster profile too')
  const services = (await run('docker-compose', ['-f', COMPOSE, 'config', '--services'], { cwd: ROOT })).stdout
    .split('\n').filter(Boolean).sort()
  t.same(services, [...DEFAULT_STACK, 'k6', ...CLUSTER_PROFILE].sort())
})

t.test('the cluster profile adds a Redis Cluster and two instances on it, and changes nothing else',
  { skip: skipUnlessInstalled('docker-compose') }, async (t) => {
    const services = await resolved('--profile', 'cluster')
    const profileOf = (name: string) => /^ {4}profiles:\n((?: {4}- .*\n)+)/m.exec(services.get(name) ?? '')?.[1]
      ?.split('\n').filter(Boolean).map((line) => line.replace(/^ {4}- /, ''))
    for (const name of DEFAULT_STACK) t.equal(profileOf(name), undefined, `${name} starts without a profile`)
    t.same(profileOf('k6'), ['k6'])
    for (const name of CLUSTER_PROFILE) t.same(profileOf(name), ['cluster'], `${name} starts only under the cluster profile`)

    const seeds = CLUSTER_NODES.map((n) => `${n}:6379`).join(',')
    const volumes = new Set<string>()
    for (const name of CLUSTER_NODES) {
      const node = services.get(name)
      t.match(node, /image: redis:7/, `${name} runs Redis 7`)
      t.match(node, /--cluster-enabled yes/, `${name} is a cluster node`)
      t.match(node, /--cluster-announce-hostname "\$\$REDIS_NODE"/, `${name} announces its name`)
      t.equal(envOf(node, 'REDIS_NODE'), name, `${name} is told its own name`)
      t.match(node, /--appendonly yes/, `${name} keeps an append-only file`)
      t.match(node, /healthcheck:\n(?: {6}.*\n)*? {6}- redis-cli\n {6}- ping/, `${name} has a health check`)
      const volume = /^ {4}- (\S+):\/data/m.exec(node ?? '')?.[1]
      t.ok(volume && !volumes.has(volume), `${name} has a data volume of its own`)
      volumes.add(volume!)
    }

    const init = services.get('redis-cluster-init')
    t.equal(envOf(init, 'REDIS_CLUSTER_NODES'), seeds, 'the init container forms the six nodes')
    t.match(init, /- .*docker\/redis-cluster-init\.sh:\/redis-cluster-init\.sh:ro/, 'with the script of this repository')
    t.match(readFileSync(join(ROOT, 'docker', 'redis-cluster-init.sh'), 'utf8'), /redis-cli --cluster create \$nodes --cluster-replicas 1 --cluster-yes/,
      'which runs redis-cli --cluster create with a replica per master')
    for (const name of CLUSTER_NODES) {
      t.match(init, new RegExp(` {6}${name}:\n {8}condition: service_healthy`), `it waits for ${name} to be healthy`)
    }
    t.match(init, /restart: 'no'|restart: "no"/, 'it runs once')

    const appDb = envOf(services.get('app1'), 'DATABASE_URL')
    for (const name of ['cluster-app1', 'cluster-app2']) {
      const app = services.get(name)
      t.equal(envOf(app, 'REDIS_CLUSTER_NODES'), seeds, `${name} uses the cluster`)
      t.equal(envOf(app, 'REDLOCK_REDIS_URLS'), undefined, `${name} leaves REDLOCK_REDIS_URLS unset: locks use the cluster`)
      t.match(app, / {6}redis-cluster-init:\n {8}condition: service_completed_successfully/, `${name} waits for the cluster to be formed`)
      t.match(app, / {6}cluster-migrate:\n {8}condition: service_completed_successfully/, `${name} waits for its migrations`)
      t.notMatch(app, /^ {6}redis:\n/m, `${name} does not wait for the single Redis`)
      t.match(app, /health\/ready/, `${name} is checked on /health/ready`)
      t.not(envOf(app, 'DATABASE_URL'), appDb, `${name} does not share the default stack's database`)
      t.match(app, /aliases:\n {8}- flashsale-cluster\n/, `${name} answers to flashsale-cluster`)
      t.notMatch(app, /- flashsale\n/, `${name} is not among the default stack's instances`)
    }
    t.equal(envOf(services.get('cluster-migrate'), 'DATABASE_URL'), envOf(services.get('cluster-app1'), 'DATABASE_URL'),
      'the cluster instances\' database is the one migrated for them')
    t.match(services.get('cluster-database'), /createdb flashsale_cluster/, 'and is created when missing')

    for (const name of ['app1', 'app2']) {
      const app = services.get(name)
      t.equal(envOf(app, 'REDIS_URL'), 'redis://redis:6379', `${name} still uses the single Redis`)
      t.equal(envOf(app, 'REDIS_CLUSTER_NODES'), undefined, `${name} is not on the cluster`)
    }
    const defaults = await resolved()
    for (const name of DEFAULT_STACK) t.equal(defaults.get(name), services.get(name), `${name} is the same with or without the profile`)
  })

/** The items of a resolved block's list under `key` (four-space indent, `- item` lines). */
function listOf (block: string | undefined, key: string): string[] {
  const body = new RegExp(`^ {4}${key}:\n((?: {4}- .*\n)+)`, 'm').exec(block ?? '')?.[1] ?? ''
  return body.split('\n').filter(Boolean).map((line) => line.replace(/^ {4}- /, ''))
}

t.test('traces go to Jaeger, k6 writes to Prometheus, and Grafana links exemplars to traces',
  { skip: skipUnlessInstalled('docker-compose') }, async (t) => {
    const services = await resolved('--profile', 'k6', '--profile', 'cluster')
    const jaeger = services.get('jaeger')
    t.match(jaeger, /image: jaegertracing\/all-in-one:/, 'Jaeger all-in-one')
    t.equal(envOf(jaeger, 'COLLECTOR_OTLP_ENABLED'), '"true"', 'with its OTLP receiver on')
    for (const name of ['app1', 'app2', 'cluster-app1', 'cluster-app2']) {
      const app = services.get(name)
      t.equal(envOf(app, 'OTEL_EXPORTER_OTLP_ENDPOINT'), 'http://jaeger:4318', `${name} exports traces over OTLP/HTTP to Jaeger`)
      t.equal(envOf(app, 'OTEL_TRACES_SAMPLER'), 'parentbased_traceidratio', `${name} samples by trace id, honouring a sampled parent`)
      t.ok(Number(envOf(app, 'OTEL_TRACES_SAMPLER_ARG')?.replaceAll('\'', '')) > 0, `${name} samples a share of new traces`)
      t.match(app, / {6}jaeger:\n {8}condition: service_started/, `${name} starts after Jaeger`)
    }

    const prometheus = listOf(services.get('prometheus'), 'command')
    t.ok(prometheus.includes('--web.enable-remote-write-receiver'), 'Prometheus takes remote writes (k6)')
    t.ok(prometheus.includes('--enable-feature=exemplar-storage'), 'Prometheus keeps exemplars')

    const k6 = services.get('k6')
    const command = listOf(k6, 'command')
    t.same(command.slice(command.indexOf('-o'), command.indexOf('-o') + 2), ['-o', 'experimental-prometheus-rw'], 'k6 writes its metrics with the remote-write output')
    t.ok(command.includes('testid=local'), 'tagged with the run\'s testid (K6_TESTID, "local" unless set)')
    t.equal(envOf(k6, 'K6_PROMETHEUS_RW_SERVER_URL'), 'http://prometheus:9090/api/v1/write', 'to the compose Prometheus')
    const stats = envOf(k6, 'K6_PROMETHEUS_RW_TREND_STATS')?.split(',') ?? []
    for (const stat of ['p(95)', 'p(99)']) t.ok(stats.includes(stat), `k6 writes ${stat} of every trend (the dashboard reads them)`)
    t.match(k6, / {6}prometheus:\n {8}condition: service_healthy/, 'k6 waits for Prometheus')

    for (const file of ['docker/grafana-datasource.yml', 'grafana/provisioning/datasources/prometheus.yml']) {
      const text = readFileSync(join(ROOT, file), 'utf8')
      t.match(text, /exemplarTraceIdDestinations:\n\s+- name: trace_id\n\s+datasourceUid: jaeger\n/, `${file}: exemplars' trace_id opens the trace`)
      t.match(text, /- name: Jaeger\n\s+uid: jaeger\n\s+type: jaeger\n/, `${file}: in the Jaeger data source`)
    }
    t.match(readFileSync(join(ROOT, 'docker', 'grafana-datasource.yml'), 'utf8'), /url: http:\/\/jaeger:16686\n/, 'which is the compose Jaeger')
  })

t.test('the init script forms six empty nodes into a cluster, and leaves a formed one alone', async (t) => {
  const script = join(ROOT, 'docker', 'redis-cluster-init.sh')
  const init = (nodes: string) => run('sh', [script], { env: { PATH: process.env.PATH, REDIS_CLUSTER_NODES: nodes }, timeout: 90_000 })
  let firstRun = ''
  // The helper holds the script to its own readiness: every node ok, every slot, replicas in sync.
  const cluster = await startRedisCluster(t, {
    create: async (addresses) => { firstRun = (await init(addresses.join(','))).stdout },
  })
  t.match(firstRun, /\[OK\] All 16384 slots covered/, 'redis-cli created the cluster')
  t.match(firstRun, /Redis Cluster ready/, 'the script waited for it')
  t.equal(cluster.masters().length, 3, 'three masters')
  t.equal(cluster.replicas().length, 3, 'three replicas')
  const ids = cluster.nodes.map((n) => n.id)

  const again = await init(cluster.seeds)
  t.match(again.stdout, /already knows other nodes/, 'a second run creates nothing')
  t.match(again.stdout, /Redis Cluster ready/, 'and returns once the cluster is ready')
  t.same(await Promise.all(cluster.nodes.map(async (n) => String(await n.client.call('cluster', 'myid')))), ids, 'the same nodes')
  t.same(cluster.masters().map((n) => n.address).sort(), (await cluster.commandsProcessed()).filter((n) => n.role === 'master').map((n) => n.address).sort(),
    'with the same masters')

  await t.rejects(run('sh', [script], { env: { PATH: process.env.PATH } }), /REDIS_CLUSTER_NODES/, 'without the node list it says what is missing')
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
  const cmd = /^CMD \["node", (.*)"src\/start\.ts"\]$/m.exec(runtime)
  t.ok(cmd, 'run by Node itself')
  // The image, npm start and the benchmark run the service with the same Node flags.
  const flags = [...(cmd?.[1] ?? '').matchAll(/"(--[^"]+)"/g)].map((m) => m[1]!)
  t.ok(flags.length > 0, `node flags: ${flags}`)
  const start = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.start as string
  const bench = readFileSync(join(ROOT, 'bench', 'run.ts'), 'utf8')
  for (const flag of flags) {
    t.ok(start.includes(flag), `npm start runs with ${flag}`)
    t.ok(bench.includes(`'${flag}'`), `the benchmark runs the service with ${flag}`)
  }
  t.match(runtime, /^USER node$/m, 'the runtime stage drops root')
  t.match(runtime, /^HEALTHCHECK /m, 'declares a health check')
  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n')
  for (const p of ['node_modules', '.git']) t.ok(ignored.includes(p), `.dockerignore leaves out ${p}`)
})
