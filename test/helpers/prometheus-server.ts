import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../../src/paths.ts'
import { eventually } from './eventually.ts'
import { freePort } from './free-port.ts'

export interface QueryResult {
  status: 'success' | 'error'
  error?: string
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }
}

export interface Prometheus {
  url: string
  query(expr: string): Promise<QueryResult>
  api<T>(path: string): Promise<T>
  stop(): Promise<void>
}

/**
 * Starts Debian's `prometheus` on a free loopback port with the project's rule files, scraping
 * `target` as job `flashsale` every second and evaluating rules every second; it also takes
 * remote writes (/api/v1/write).
 */
export async function startPrometheus (target: string): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'flashsale-prom-'))
  const port = await freePort()
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '1s' },
    rule_files: [join(ROOT, 'prometheus', 'rules', '*.yml')],
    scrape_configs: [{ job_name: 'flashsale', static_configs: [{ targets: [target] }] }],
  }
  // JSON is YAML: no YAML library needed to write the config.
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config))
  const child = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // k6's experimental-prometheus-rw output writes here, as in docker-compose.yml.
    '--web.enable-remote-write-receiver',
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (b) => (stderr = (stderr + b).slice(-4000)))
  let failed: Error | undefined
  child.once('error', (err) => {
    failed = new Error(`cannot run prometheus (Debian package: prometheus): ${err.message}`)
  })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const url = `http://127.0.0.1:${port}`

  const stop = async () => {
    if (!failed) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await eventually('prometheus ready', async () => {
      if (failed) throw failed
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`)
      // Refused until it listens: not yet, rather than a failure.
      return fetch(`${url}/-/ready`).then((r) => r.ok, () => false)
    }, 20_000)
  } catch (err) {
    await stop()
    throw new Error(`${(err as Error).message}: ${stderr}`)
  }
  const api = async <T>(path: string): Promise<T> => (await fetch(`${url}${path}`)).json() as Promise<T>
  return {
    url,
    api,
    query: (expr) => api<QueryResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    stop,
  }
}
