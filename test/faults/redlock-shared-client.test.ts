import t from 'tap'
import { buildTestApp } from '../helpers/app.js'

// With REDLOCK_REDIS_URLS left to its default, the lock shares the auto-pipelined main client.
// Redlock defines its Lua commands on a client at its first lock; if another command opened an
// auto-pipeline in the same tick, that pipeline lacks the command and ioredis throws from its
// exec callback: the process dies. A restarted service settling stuck purchases hits exactly this.
t.test('the first lock taken alongside other Redis commands does not crash the process', async (t) => {
  const { app } = await buildTestApp(t)
  const crashes: unknown[] = []
  const onCrash = (err: unknown) => crashes.push(err)
  process.prependListener('uncaughtException', onCrash)
  t.teardown(() => void process.removeListener('uncaughtException', onCrash))

  const [pong, locked] = await Promise.allSettled([
    app.redis.ping(),
    app.locks.withLock('settle', `${app.config.REDIS_KEY_PREFIX}:first-lock`, async () => 'held'),
  ])
  await new Promise((resolve) => setImmediate(resolve))
  t.same(crashes.map((e) => String(e)), [], 'no uncaught exception')
  t.match(pong, { status: 'fulfilled', value: 'PONG' })
  t.match(locked, { status: 'fulfilled', value: 'held' }, 'the lock is taken and the routine runs')
})
