import t from 'tap'
import { isDependencyError } from '../../src/errors.ts'
import { assertServing, connectCluster } from '../../src/plugins/external/redis.ts'
import { eventually } from '../helpers/eventually.ts'
import { startRedisCluster } from '../helpers/redis-cluster.ts'

// One cluster for the file: a resharding first, then a failover, then a slot range lost for good.
const cluster = await startRedisCluster(t)
/** A client with the service's own options, as the service connects. */
const service = await connectCluster(cluster.seeds.split(','), 300)
service.on('error', () => {})
t.teardown(() => service.disconnect())

t.test('a multi-key command on a slot being migrated: TRYAGAIN until the client gives up, a dependency error', async (t) => {
  const [a, b] = ['{mig}:a', '{mig}:b']
  await Promise.all([service.set(a, '1'), service.set(b, '2')])
  const from = await cluster.masterOf(a)
  const to = cluster.masters().find((m) => m !== from)!
  const slot = await cluster.slotOf(a)
  await to.client.call('cluster', 'setslot', slot, 'importing', from.id)
  await from.client.call('cluster', 'setslot', slot, 'migrating', to.id)
  await from.client.call('migrate', to.host, to.port, '', 0, 5_000, 'keys', a)
  // One key here, one there: Redis answers TRYAGAIN, ioredis retries, then gives up.
  const err = await service.mget(a, b).then(() => undefined, (e: Error) => e)
  t.match(err?.message, /TRYAGAIN/, `the client gives up with TRYAGAIN: ${err?.message}`)
  t.ok(isDependencyError(err), 'a dependency error: 503, not 500')
  // A single key is followed to where it went (ASK): not an error at all.
  t.equal(await service.get(a), '1', 'ASK is followed')
  await from.client.call('migrate', to.host, to.port, '', 0, 5_000, 'keys', b)
  await to.client.call('cluster', 'setslot', slot, 'node', to.id)
  await from.client.call('cluster', 'setslot', slot, 'node', to.id)
  await eventually('MOVED followed once the slot moved', async () => (await service.mget(a, b)).join() === '1,2')
})

t.test('after a failover, /health\'s check says the cluster serves, whichever master the client still lists', async (t) => {
  // A client that saw nothing of the failover still lists the dead master among its masters.
  const idle = await connectCluster(cluster.seeds.split(','), 300)
  idle.on('error', () => {})
  t.teardown(() => idle.disconnect())
  const killed = await cluster.killMaster('{health}:x')
  await cluster.waitForFailover()
  await eventually('every live node says ok', async () => {
    for (const node of cluster.nodes.filter((n) => n.state === 'running')) {
      if (!/cluster_state:ok/.test(String(await node.client.call('cluster', 'info')))) return false
    }
    return true
  })
  // Unless its periodic slot refresh ran meanwhile: then the check below holds all the more.
  const stale = idle.nodes('master').some((n) => n.options.port === killed.port)
  t.comment(`the idle client ${stale ? 'still lists' : 'no longer lists'} the dead master`)
  for (let i = 0; i < 12; i++) await t.resolves(assertServing(idle), `check ${i + 1}: serving`)
})

t.test('a slot range with no master left: CLUSTERDOWN, a dependency error, and /health\'s check says down', async (t) => {
  // The master promoted above has no replica: killing it leaves its slots unserved for good.
  const orphan = await cluster.masterOf('{health}:x')
  // A key a live master serves: once the cluster fails, that master refuses it too.
  let live = 0
  while (await cluster.masterOf(`{live${live}}`) === orphan) live++
  await cluster.kill(orphan)
  const err = await eventually('the cluster refuses', async () =>
    service.set(`{live${live}}`, '1').then(() => undefined, (e: Error) => (/CLUSTERDOWN/.test(e.message) ? e : undefined)), 30_000)
  t.ok(isDependencyError(err), `a dependency error: ${err.message}`)
  await eventually('the other masters say the cluster fails', async () =>
    assertServing(service).then(() => false, () => true), 30_000)
  await t.rejects(assertServing(service), /cluster/, 'the check says why')
})
