import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'

// Regression: Redlock defines its Lua commands on a client at its first lock. Were that client the
// auto-pipelined main one, a pipeline opened by another command in the same tick would lack the
// command and ioredis would throw from its exec callback, killing the process (a restarted
// service settling stuck purchases did exactly that). REDLOCK_REDIS_URLS is left to its default.
t.test('the first lock taken alongside other Redis commands does not crash the process', async (t) => {
  const { app } = await buildTestApp(t)
  const crashes: unknown[] = []
  const onCrash = (err: unknown) => crashes.push(err)
  process.prependListener('uncaughtException', onCrash)
  t.teardown(() => { process.removeListener('uncaughtException', onCrash) })

  const [pong, locked] = await Promise.allSettled([
    app.redis.ping(),
    app.locks.withLock('settle', `${app.config.REDIS_KEY_PREFIX}:first-lock`, async () => 'held'),
  ])
  await new Promise((resolve) => setImmediate(resolve))
  t.same(crashes.map((e) => String(e)), [], 'no uncaught exception')
  t.match(pong, { status: 'fulfilled', value: 'PONG' })
  t.match(locked, { status: 'fulfilled', value: 'held' }, 'the lock is taken and the routine runs')
})
