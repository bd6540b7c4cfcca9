import { existsSync, readdirSync, readFileSync } from 'node:fs'
import t from 'tap'
import { describeLoad, measurePhase } from '../../kit/cluster-load.ts'
import { alive } from '../helpers/pids.ts'
import { startRedisCluster, type ClusterNode } from '../helpers/redis-cluster.ts'

// One cluster for the whole file (starting one takes seconds); the failover test changes its
// topology, so it comes last but one, and the last one stops it.
const cluster = await startRedisCluster(t)
const { client } = cluster
const { startup } = cluster
t.comment(`3 + 3 cluster up in ${startup.totalMs} ms (servers ${startup.serversMs} ms, ` +
  `redis-cli --cluster create ${startup.createMs} ms, converged ${startup.convergeMs} ms later)`)

function infoField (info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)\\r?$`, 'm').exec(info)?.[1]
}

/** The master a replica replicates, by its own account (ROLE). */
async function masterPortOf (replica: ClusterNode): Promise<number> {
  const role = await replica.client.call('role') as [string, string, number]
  return Number(role[2])
}

/** How many MOVED replies a node has sent since it started. */
async function movedReplies (node: ClusterNode): Promise<number> {
  const info = String(await node.client.call('info', 'errorstats'))
  return Number(/^errorstat_MOVED:count=(\d+)/m.exec(info)?.[1] ?? 0)
}

t.test('the cluster forms: 3 masters with a replica each, every slot served', async (t) => {
  t.match(cluster.seeds, /^(127\.0\.0\.1:\d+,){5}127\.0\.0\.1:\d+$/, 'seeds in the REDIS_CLUSTER_NODES format')
  t.same(cluster.seeds.split(','), cluster.nodes.map((n) => n.address), 'every node is a seed')
  const masters = cluster.masters()
  t.equal(masters.length, 3, 'three masters')
  t.equal(cluster.replicas().length, 3, 'three replicas')
  for (const node of cluster.nodes) {
    const info = String(await node.client.call('cluster', 'info'))
    t.equal(infoField(info, 'cluster_state'), 'ok', `${node.address} says cluster_state:ok`)
    t.equal(infoField(info, 'cluster_slots_ok'), '16384', `${node.address} sees every slot served`)
    t.equal(node.id, String(await node.client.call('cluster', 'myid')), `${node.address} has its cluster id`)
  }
  const replicated = (await Promise.all(cluster.replicas().map(masterPortOf))).sort()
  t.same(replicated, masters.map((m) => m.port).sort(), 'each master has exactly one replica')

  const ranges = await client.cluster('SLOTS') as unknown as [number, number, [string, number]][]
  const covered = ranges.reduce((n, [from, to]) => n + to - from + 1, 0)
  t.equal(covered, 16384, 'CLUSTER SLOTS covers every slot')
  t.same([...new Set(ranges.map((r) => r[2][1]))].sort(), masters.map((m) => m.port).sort(), 'every master serves slots')
})

t.test('a multi-key Lua script runs on keys of one hash tag, and is refused across slots', async (t) => {
  const script = `
    local stock = tonumber(redis.call('GET', KEYS[1]))
    if stock <= 0 then return -1 end
    redis.call('DECR', KEYS[1])
    return redis.call('INCR', KEYS[2])`
  const [stock, sold] = ['{lua-sale}:stock', '{lua-sale}:sold']
  await client.set(stock, 2)
  t.equal(await client.eval(script, 2, stock, sold), 1)
  t.equal(await client.eval(script, 2, stock, sold), 2)
  t.equal(await client.eval(script, 2, stock, sold), -1, 'sold out')
  t.same(await Promise.all([client.get(stock), client.get(sold)]), ['0', '2'])

  const other = '{lua-other}:sold'
  t.not(await cluster.slotOf(stock), await cluster.slotOf(other), 'the two tags hash to different slots')
  await t.rejects(client.eval(script, 2, stock, other), /CROSSSLOT/, 'keys of two slots are refused')
})

t.test('keys across slots land on every master, and MOVED is followed', async (t) => {
  const keys = Array.from({ length: 300 }, (_, i) => `spread:${i}`)
  await Promise.all(keys.map((k) => client.set(k, k)))
  const owners = await Promise.all(keys.map((k) => cluster.masterOf(k)))
  for (const master of cluster.masters()) {
    const stored = (await master.client.keys('spread:*')).sort()
    const expected = keys.filter((_, i) => owners[i] === master).sort()
    t.ok(expected.length > 0, `${master.address} serves some of the keys`)
    t.same(stored, expected, `${master.address} holds exactly the keys of its slots`)
  }

  const key = 'spread:0'
  const from = owners[0]!
  const stranger = cluster.masters().find((m) => m !== from)!
  const slot = await cluster.slotOf(key)
  await t.rejects(stranger.client.get(key), { message: `MOVED ${slot} ${from.address}` },
    'a node answers MOVED for a key it does not serve')

  // The client's slot map still names the old owner: only a MOVED can lead it to the new one.
  const redirectsBefore = await movedReplies(from)
  await cluster.moveSlot(key, stranger)
  t.equal(await cluster.masterOf(key), stranger, 'the slot has moved')
  t.equal(await client.get(key), key, 'the client reads the key at its new master')
  t.ok(await movedReplies(from) > redirectsBefore, 'after a MOVED from the old one')
  await client.set(key, 'again')
  t.equal(await stranger.client.get(key), 'again', 'and writes go there too')
})

t.test('commandsProcessed() counts the commands each node served', async (t) => {
  const tag = '{per-shard}'
  const owner = await cluster.masterOf(tag)
  const before = new Map((await cluster.commandsProcessed()).map((n) => [n.address, n.commands]))
  await Promise.all(Array.from({ length: 500 }, (_, i) => client.set(`${tag}:${i}`, i)))
  const after = await cluster.commandsProcessed()
  t.equal(after.length, 6, 'every running node reports')
  for (const node of after) {
    const served = node.commands - before.get(node.address)!
    if (node.address === owner.address) t.ok(served >= 500, `${node.address} (master of the tag) served the 500 writes: ${served}`)
    else if (node.role === 'master') t.ok(served < 100, `${node.address} (another master) served few: ${served}`)
  }
  t.same(after.filter((n) => n.role === 'master').map((n) => n.address).sort(), cluster.masters().map((n) => n.address).sort(),
    'each node is reported with its role')
})

t.test('measurePhase() reports commands/s per master: even for spread keys, one master for a hot tag', async (t) => {
  const spread = await measurePhase(cluster, () => Promise.all(Array.from({ length: 3000 }, (_, i) => client.set(`load:${i}`, i))))
  t.comment(`spread keys: ${describeLoad(spread)}`)
  t.equal(spread.masters.length, 3, 'one entry per master')
  t.ok(spread.masters.every((m) => m.commands >= 800), 'every master served about a third of the 3000 writes')
  t.ok(spread.imbalance < 1.3, `spread evenly: imbalance ${spread.imbalance.toFixed(2)}`)
  t.equal(spread.result.length, 3000, 'the phase\'s result is handed back')

  const hot = await measurePhase(cluster, () => Promise.all(Array.from({ length: 1000 }, (_, i) => client.set(`{hot}:${i}`, i))))
  t.comment(`one hash tag: ${describeLoad(hot)}`)
  const owner = await cluster.masterOf('{hot}')
  t.equal(hot.masters[0]!.address, owner.address, 'the busiest master is the tag\'s')
  t.ok(hot.masters[0]!.commands >= 1000 && hot.masters[0]!.share > 0.9, 'it served the writes')
  t.ok(hot.imbalance > 2.5, `one master of three did the work: imbalance ${hot.imbalance.toFixed(2)}`)
  t.ok(hot.masters[0]!.perSecond > 0 && hot.totalPerSecond >= hot.masters[0]!.perSecond, 'rates are per second')
})

t.test('pause() stops a node answering and resume() lets it answer again', async (t) => {
  const node = cluster.replicas()[0]!
  const other = cluster.masters()[0]!
  await cluster.pause(node)
  t.equal(node.state, 'paused')
  let answered = false
  const reply = node.client.ping().then((r) => { answered = true; return r })
  // A round trip to a running node gives the paused one the same chance to answer.
  t.equal(await other.client.ping(), 'PONG')
  t.equal(answered, false, 'no answer while paused')
  await cluster.resume(node)
  t.equal(await reply, 'PONG', 'the pending command is answered after resume()')
  t.equal(node.state, 'running')
})

t.test('a killed master fails over to its replica and acknowledged writes survive', async (t) => {
  const tag = '{failover}'
  const master = await cluster.masterOf(tag)
  const replicaPorts = await Promise.all(cluster.replicas().map(async (r) => [r, await masterPortOf(r)] as const))
  const replica = replicaPorts.find(([, port]) => port === master.port)?.[0]
  t.ok(replica, 'the master has a replica')

  const keys = Array.from({ length: 50 }, (_, i) => `${tag}:${i}`)
  for (const key of keys) {
    // WAIT has no key: in one pipeline it goes to the same master as the write before it.
    const [set, wait] = (await client.pipeline().set(key, key).call('wait', 1, 1000).exec())!
    t.error(set?.[0] ?? wait?.[0])
    const acked = wait?.[1]
    if (acked !== 1) t.fail(`${key} acknowledged by ${acked} replicas, not 1`)
  }

  const killed = await cluster.killMaster(keys[0]!)
  t.equal(killed, master, 'the master of the key is the one killed')
  t.notOk(alive(master.pid), 'its process is gone')
  const failover = await cluster.waitForFailover()
  t.comment(`failover took ${failover.ms} ms (cluster-node-timeout 1000 ms)`)
  t.ok(failover.ms < 10_000, `a replica took over within 10 s: ${failover.ms} ms`)
  t.same(failover.promoted.map((n) => n.address), [replica!.address], 'the killed master\'s replica was promoted')
  t.equal(await cluster.masterOf(tag), replica, 'and serves the slot now')

  const values = await Promise.all(keys.map((k) => client.get(k)))
  t.same(values, keys, 'every acknowledged write survived')
  await client.set(`${tag}:after`, 'yes')
  t.equal(await replica!.client.get(`${tag}:after`), 'yes', 'the client writes to the new master')
})

t.test('stop() leaves no process and no directory behind', async (t) => {
  const pids = cluster.nodes.map((n) => n.pid)
  t.ok(existsSync(cluster.dir), 'the directory exists while running')
  t.ok(pids.some(alive), 'servers are running')
  await cluster.stop()
  for (const pid of pids) t.notOk(alive(pid), `redis-server ${pid} is gone`)
  t.notOk(existsSync(cluster.dir), 'the directory is removed')
  t.equal(client.nodes().length, 0, 'the client has no connection left')
  t.ok(cluster.nodes.every((n) => n.client.status === 'end'), 'nor has any per-node client')
  await cluster.stop()
  t.pass('stop() twice is harmless')
})

t.test('a cluster that cannot start leaves no process behind', async (t) => {
  await t.rejects(startRedisCluster(t, { serverArgs: ['--no-such-option', 'yes'] }), /exited at start[\s\S]*no-such-option/,
    'the error says why')
  t.same(childRedisServers(), [], 'no redis-server of this process is left')
})

/** redis-server processes whose parent is this process, from /proc. */
function childRedisServers (): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).flatMap((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      return stat.includes('(redis-server)') && ppid === process.pid ? [Number(pid)] : []
    } catch {
      return []
    }
  })
}
