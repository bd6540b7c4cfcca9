import t from 'tap'
import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import postgres from 'postgres'
import { Redis } from 'ioredis'
import { ADMIN_TOKEN } from '../helpers/app.ts'
import { startService } from '../../kit/service-process.ts'
import { testDatabaseUrl, TEST_REDIS_URL } from '../helpers/services.ts'
import { uniqueName } from '../../kit/scratch-servers.ts'
import { dropKeys } from '../helpers/test-redis.ts'

const ROWS = 1_000_000
const LIMIT_BYTES = 50 * 1024 * 1024

/** The resident set of a process, from /proc (what the kernel charges it). */
function rss (pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(kb![1]) * 1024
}

/**
 * GETs an export and counts its lines, sampling the service's RSS as it streams; pauses the
 * response once for `pauseMs`, a slow reader the service must wait for rather than buffer.
 */
function exportLines (base: string, path: string, pid: number, pauseMs: number): Promise<{ lines: number; peak: number; last: string }> {
  return new Promise((resolve, reject) => {
    let lines = 0
    let peak = rss(pid)
    let tail = ''
    let paused = pauseMs === 0
    const sampler = setInterval(() => { peak = Math.max(peak, rss(pid)) }, 20)
    const req = request(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'application/x-ndjson' } }, (res) => {
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) lines++
        tail = (tail + chunk).slice(-300)
        if (!paused && lines > ROWS / 10) {
          paused = true
          res.pause()
          setTimeout(() => res.resume(), pauseMs)
        }
      })
      res.on('end', () => {
        clearInterval(sampler)
        resolve({ lines, peak: Math.max(peak, rss(pid)), last: tail.trimEnd().split('\n').pop()! })
      })
      res.on('error', reject)
    })
    req.on('error', (err) => { clearInterval(sampler); reject(err) })
    req.end()
  })
}

t.test(`an export of ${ROWS.toLocaleString('en')} purchases streams in flat memory`, { timeout: 240_000 }, async (t) => {
  const url = await testDatabaseUrl(t)
  const prefix = uniqueName('t').replace(/_/g, '-')
  // Teardowns run last first: the sale's keys go once the service has stopped writing them.
  t.teardown(async () => {
    const redis = new Redis(TEST_REDIS_URL)
    await dropKeys(redis, prefix)
    await redis.quit()
  })
  // The service runs with the V8 flags `npm start` and the image give it.
  const service = await startService(t, {
    NODE_OPTIONS: process.env.EXPORT_TEST_NODE_OPTIONS ?? '--max-semi-space-size=8',
    DATABASE_URL: url,
    REDIS_URL: TEST_REDIS_URL,
    ADMIN_TOKEN,
    SALE_SCHEDULE: 'off',
    LOG_LEVEL: 'info',
    REDIS_KEY_PREFIX: prefix,
  })
  const created = await fetch(`${service.base}/admin/sales`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ items: 1_000, stock_per_item: 1_000 }),
  })
  const saleId = (await created.json() as { sale_id: number }).sale_id
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  await sql`INSERT INTO purchases (code, sale_id, item_id, user_id, created_at)
            SELECT 'c' || g, ${saleId}, 1 + g % 1000, 'buyer' || (g % 50000), now() FROM generate_series(1, ${ROWS}) g`
  const path = `/admin/sales/${saleId}/purchases`

  // Measured from the idle service: what the export costs, warm-up included.
  const idle = rss(service.pid)
  const run = await exportLines(service.base, path, service.pid, 1_000)
  t.equal(run.lines, ROWS, 'every purchase, once')
  t.match(JSON.parse(run.last), { purchase_id: String, code: `c${ROWS}`, sale_id: saleId }, 'the last one made, last')
  const growth = run.peak - idle
  t.comment(`RSS idle ${(idle / 2 ** 20).toFixed(1)} MB, peak ${(run.peak / 2 ** 20).toFixed(1)} MB, growth ${(growth / 2 ** 20).toFixed(1)} MB`)
  t.ok(growth < LIMIT_BYTES, `RSS grew ${(growth / 2 ** 20).toFixed(1)} MB (< 50 MB)`)
})
