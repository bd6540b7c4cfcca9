import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { series } from '../helpers/metrics.ts'
import { startRedis } from '../helpers/redis-server.ts'
import { readMetrics } from '../../kit/operator-client.ts'

interface HealthBody {
  status: string
  dependencies: Record<'redis' | 'postgres', { status: string; latency_ms: number }>
}

t.test('/health reports exactly the contract fields, with real numbers', async (t) => {
  const { app } = await buildTestApp(t)
  const res = await app.inject('/health')
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.same(Object.keys(body).sort(), ['dependencies', 'event_loop', 'memory', 'status', 'uptime_seconds'])
  t.same(Object.keys(body.memory).sort(), ['external_bytes', 'heap_total_bytes', 'heap_used_bytes', 'rss_bytes'])
  t.same(Object.keys(body.event_loop).sort(), ['lag_max_ms', 'lag_p50_ms', 'lag_p99_ms', 'utilization'])
  t.same(Object.keys(body.dependencies).sort(), ['postgres', 'redis'])
  t.equal(body.status, 'ok')
  t.ok(body.uptime_seconds > 0)
  t.ok(body.memory.rss_bytes > body.memory.heap_used_bytes, 'rss covers the heap')
  t.ok(body.memory.heap_total_bytes >= body.memory.heap_used_bytes)
  for (const dep of ['redis', 'postgres'] as const) {
    t.equal(body.dependencies[dep].status, 'up', dep)
    t.ok(body.dependencies[dep].latency_ms >= 0 && body.dependencies[dep].latency_ms < 500, `${dep} latency`)
  }
  t.ok(body.event_loop.utilization >= 0 && body.event_loop.utilization <= 1)

  const live = await app.inject('/health/live')
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready', reasons: [] })
})

t.test('event-loop lag shows in the rolling window after the loop is blocked', async (t) => {
  const { app } = await buildTestApp(t)
  const lagNow = async () => (await app.inject('/health')).json().event_loop
  // The monitor measures from its first tick on: wait for samples, then block the loop 150 ms.
  await eventually('event-loop lag samples', async () => (await lagNow()).lag_p50_ms > 0)
  const until = Date.now() + 150
  while (Date.now() < until);
  const lag = await eventually('the blocked loop in the lag window', async () => {
    const loop = await lagNow()
    return loop.lag_max_ms >= 100 ? loop : undefined
  })
  t.ok(lag.lag_p99_ms <= lag.lag_max_ms && lag.lag_p50_ms <= lag.lag_p99_ms, 'percentiles are ordered')
  t.ok(lag.utilization > 0, 'the blocked loop was busy')
})

t.test('dependency pings are cached: a burst of health checks pings once', async (t) => {
  const { app, send } = await buildTestApp(t)
  const pings = async () => series(await readMetrics(send), 'flashsale_redis_command_duration_seconds_count', { command: 'ping' }) ?? 0
  await app.inject('/health')
  const before = await pings()
  const burst = await Promise.all(Array.from({ length: 20 }, () => app.inject('/health')))
  t.ok(burst.every((r) => r.statusCode === 200))
  const after = await pings()
  t.ok(after - before <= 2, `20 health checks cost ${after - before} Redis pings`)
  // Once the cached answer is stale, the next check pings again.
  await eventually('a Redis ping past the cached answer', async () => (await app.inject('/health')).statusCode === 200 && (await pings()) > after)
})

t.test('shutting down: ready and health answer 503, live stays 200', async (t) => {
  const { app } = await buildTestApp(t)
  app.health.markShuttingDown()
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  t.same(ready.json(), { status: 'not_ready', reasons: ['shutting_down'] })
  t.ok(ready.headers['retry-after'])
  const health = await app.inject('/health')
  t.equal(health.statusCode, 503)
  t.equal(health.json().status, 'shutting_down')
  t.equal((await app.inject('/health/live')).statusCode, 200)
})

t.test('a Redis that goes away: 503 with redis down, and back to 200 when it returns', async (t) => {
  const node = await startRedis(t)
  const { app, send } = await buildTestApp(t, { REDIS_URL: node.url, REDLOCK_REDIS_URLS: [node.url] })
  t.equal((await app.inject('/health')).statusCode, 200)

  await node.kill()
  const down = await eventually('/health 503', async () => {
    const res = await app.inject('/health')
    return res.statusCode === 503 ? (res.json() as HealthBody) : undefined
  })
  t.equal(down.status, 'degraded')
  t.equal(down.dependencies.redis.status, 'down')
  t.equal(down.dependencies.postgres.status, 'up')
  const ready = await app.inject('/health/ready')
  t.equal(ready.statusCode, 503)
  t.same(ready.json().reasons, ['redis_down'])
  const metrics = await readMetrics(send)
  t.equal(series(metrics, 'flashsale_dependency_up', { dependency: 'redis' }), 0)
  t.equal(series(metrics, 'flashsale_dependency_up', { dependency: 'postgres' }), 1)

  await node.start()
  const back = await eventually('/health 200', async () => {
    const res = await app.inject('/health')
    return res.statusCode === 200 ? (res.json() as HealthBody) : undefined
  }, 15_000)
  t.equal(back.dependencies.redis.status, 'up')
})

t.test('a dependency found down is pinged again on the next check: 200 as soon as it serves', async (t) => {
  const node = await startRedis(t)
  const { app } = await buildTestApp(t, { REDIS_URL: node.url, REDLOCK_REDIS_URLS: [node.url] })
  t.equal((await app.inject('/health')).statusCode, 200)
  // A hung Redis: the ping times out, and that answer is not kept for the cache period.
  node.pause()
  t.teardown(() => node.resume())
  await eventually('a hung Redis: 503', async () => (await app.inject('/health')).statusCode === 503)
  node.resume()
  const after = await app.inject('/health')
  t.equal(after.statusCode, 200, 'the next check, once Redis answers, is 200')
  t.equal((after.json() as HealthBody).dependencies.redis.status, 'up')
})

t.test('load shedding: 503 unavailable with Retry-After, counted; health and metrics still answer', async (t) => {
  // A heap limit of one byte puts the process under pressure from the first sample on.
  const { app, send, sql } = await buildTestApp(t, { LOAD_SHED_HEAP_USED_BYTES: 1 })
  const shed = await eventually('a shed checkout', async () => {
    const res = await app.inject({ method: 'POST', url: '/checkout?user_id=u1&id=1' })
    return res.statusCode === 503 ? res : undefined
  })
  t.same(shed.json(), { error: 'unavailable', message: shed.json().message })
  t.equal(shed.headers['retry-after'], '1')
  t.equal((await app.inject('/health/live')).statusCode, 200)
  t.equal((await app.inject('/health')).statusCode, 200)
  // readMetrics fails unless /metrics answers 200.
  const metrics = await readMetrics(send)
  t.ok((series(metrics, 'flashsale_load_shed_total', { reason: 'heap_used' }) ?? 0) >= 1, 'shed requests are counted')
  t.equal(series(metrics, 'flashsale_load_shed_total', { reason: 'event_loop_delay' }), 0)
  // The shed checkout is an attempt: it reaches Postgres as the error it was answered.
  const rows = await eventually('the shed checkout recorded', async () => {
    const found = await sql`SELECT user_id, item_id::int, result FROM checkout_attempts WHERE result = 'error'`
    return found.length > 0 ? found : undefined
  })
  t.same(rows.map((r) => ({ ...r })), [{ user_id: 'u1', item_id: 1, result: 'error' }])
})
