import t, { type Test } from 'tap'
import { createSale } from '../../kit/operator-client.ts'
import { homeShard, saleShardKeys } from '../../src/sale/keys.ts'
import { eventually } from '../helpers/eventually.ts'
import { httpClient, type Call, type Reply } from '../helpers/http-client.ts'
import { startRedisCluster, type LocalCluster } from '../helpers/redis-cluster.ts'
import { ADMIN, startService } from '../../kit/service-process.ts'
import { testDatabase } from '../helpers/services.ts'

/** Three instances of the service on one Redis Cluster and one database; locks in the cluster. */
async function onCluster (t: Test, env: Record<string, string> = {}, instances = 3, replicasPerMaster = 1) {
  const [db, cluster] = await Promise.all([testDatabase(t, 2), startRedisCluster(t, { replicasPerMaster })])
  const serviceEnv = {
    DATABASE_URL: db.url, REDIS_CLUSTER_NODES: cluster.seeds, RATE_LIMIT_IP_MAX: '0', RATE_LIMIT_USER_MAX: '0', ...env,
  }
  const calls: Call[] = []
  const logs: (() => string)[] = []
  for (let i = 0; i < instances; i++) {
    const service = await startService(t, serviceEnv)
    calls.push(httpClient(t, service.base, 64))
    logs.push(service.output)
  }
  /** What the instances logged at warn and above, for a failure's message. */
  const trouble = () => logs.flatMap((log) => log().split('\n').filter((l) => /"level":[456]0/.test(l))).slice(0, 6).join('\n')
  return { db, cluster, calls, trouble }
}

/** `n` tasks, `concurrency` at a time, each on the next instance in turn. */
async function storm<T> (n: number, concurrency: number, calls: Call[], task: (call: Call, i: number) => Promise<T>) {
  const out: T[] = new Array(n)
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++
      out[i] = await task(calls[i % calls.length]!, i)
    }
  }))
  return out
}

for (const shards of [1, 3]) {
  t.test(`three instances on a Redis Cluster, SALE_SHARDS=${shards}: a checkout and purchase storm, exact`, async (t) => {
    const { db, cluster, calls, trouble } = await onCluster(t, { SALE_SHARDS: String(shards) })
    const saleId = await createSale(calls[0]!, ADMIN, { items: 50, stock_per_item: 10, per_user_limit: 3 })
    for (const call of calls) await eventually('every instance serving the sale', async () => (await call('GET', '/sale')).status === 200)
    const ITEMS = 50
    const UNITS = ITEMS * 10
    // 1,500 checkouts by 300 buyers (5 tries each, limit 3) for 500 units; every success bought.
    const checkouts = await storm(1_500, 96, calls, (call, i) => call('POST', `/checkout?user_id=b${i % 300}&id=${(i % ITEMS) + 1}`))
    const statuses = new Map<number, number>()
    for (const r of checkouts) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    const codes = checkouts.filter((r) => r.status === 200).map((r) => r.body.code as string)
    // A busy machine may answer a checkout 503 at the deadline (released, recorded): never another 5xx.
    t.ok(![...statuses.keys()].some((s) => s >= 500 && s !== 503), `no 5xx but 503: ${JSON.stringify(Object.fromEntries(statuses))}`)
    t.equal(codes.length, Math.min(UNITS, 300 * 3), 'every unit a buyer under the limit could take was reserved')
    const bought: Reply[] = await storm(codes.length, 96, calls, (call, i) => call('POST', `/purchase?code=${codes[i]}`))
    t.same([...new Set(bought.map((r) => r.status))], [200], 'every reservation bought')

    // A purchase is answered once Postgres has it; Redis is told right after, off the response path.
    const sale = await eventually('every purchase settled in Redis', async () => {
      const body = (await calls[1]!('GET', '/sale')).body
      return body.units_reserved === 0 ? body : undefined
    })
    t.match(sale, { units_total: UNITS, units_sold: codes.length, units_reserved: 0, units_available: UNITS - codes.length })
    const [row] = await db.sql<{ n: number; over: number; users_over: number }[]>`
      SELECT (SELECT count(*)::int FROM purchases) AS n,
             (SELECT count(*)::int FROM (SELECT item_id FROM purchases GROUP BY item_id HAVING count(*) > 10) o) AS over,
             (SELECT count(*)::int FROM (SELECT user_id FROM purchases GROUP BY user_id HAVING count(*) > 3) u) AS users_over`
    t.same({ ...row }, { n: codes.length, over: 0, users_over: 0 }, 'one row per reservation, no item oversold, no user over the limit')
    let seen = 0
    const attempts = await eventually('every attempt in Postgres', async () => {
      const [a] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId}`
      seen = a!.n
      return a!.n >= checkouts.length ? a!.n : undefined
    }, 20_000).catch((err) => {
      t.comment(`attempt rows: ${seen}\n${trouble()}`)
      throw err
    })
    t.equal(attempts, 1_500, 'every checkout attempt persisted once, whichever instance drained it')
    if (shards > 1) {
      const [tokenRow] = await db.sql<{ token: string }[]>`SELECT token FROM sales WHERE id = ${saleId}`
      const keys = saleShardKeys('fs', saleId, tokenRow!.token, shards)
      const owners = await Promise.all(keys.map(async (k) => (await cluster.masterOf(k.meta)).port))
      t.equal(new Set(owners).size, shards, 'the sale\'s shards are served by different masters')
      const homes = new Set(Array.from({ length: 300 }, (_, i) => homeShard(`b${i}`, shards)))
      t.equal(homes.size, shards, 'buyers are homed on every shard')
    }
  })
}

/** Checkouts at a steady pace until stopped; what each was answered, and when. */
function steadyCheckouts (call: Call, prefix: string, items: number) {
  const answers: { at: number; status: number; code?: string; error?: string }[] = []
  const state = { running: true }
  const done = (async () => {
    for (let i = 0; state.running; i++) {
      const r = await call('POST', `/checkout?user_id=${prefix}${i}&id=${(i % items) + 1}`).catch(() => undefined)
      answers.push({ at: Date.now(), status: r?.status ?? 0, code: r?.body?.code, error: r?.body?.error })
    }
  })()
  return { answers, stop: async () => { state.running = false; await done } }
}

async function killUnderLoad (t: Test, cluster: LocalCluster, call: Call, saleKey: string, trouble: () => string) {
  const load = steadyCheckouts(call, 'f', 200)
  await eventually('checkouts under way', async () => load.answers.filter((a) => a.status === 200).length >= 200)
  const killedAt = Date.now()
  await cluster.killMaster(saleKey)
  const failover = await cluster.waitForFailover()
  await eventually('checkouts answered again', async () => load.answers.some((a) => a.at > killedAt && a.status === 200))
  const recoveredAt = load.answers.find((a) => a.at > killedAt && a.status === 200)!.at
  await load.stop()
  const refused = load.answers.filter((a) => a.at > killedAt && a.status !== 200 && a.status !== 409)
  t.comment(`failover ${failover.ms} ms; checkouts refused ${recoveredAt - killedAt} ms after the kill, ` +
    `${refused.length} refusals (${[...new Set(refused.map((a) => `${a.status} ${a.error ?? ''}`))].join(', ')})`)
  t.ok(refused.every((a) => a.status === 503), 'during the election: 503, nothing else', { trouble: trouble() })
  const unexpected = load.answers.filter((a) => ![200, 409, 429, 503].includes(a.status))
  t.same(unexpected, [], 'every answer, before, during and after: 200, 409, 429 or 503', { trouble: trouble() })
  t.ok(recoveredAt - killedAt < failover.ms + 5_000, 'answering again within seconds of the election')
  return { answers: load.answers, killedAt }
}

for (const replicas of [0, 1]) {
  t.test(`a master killed under load, REDIS_WAIT_REPLICAS=${replicas}: 503 only during the election, and what is lost`, async (t) => {
    // Two replicas a master: after the failover the new master still has one to wait for.
    const { db, cluster, calls, trouble } = await onCluster(t, { REDIS_WAIT_REPLICAS: String(replicas), REDIS_WAIT_TIMEOUT_MS: '200' }, 1, 2)
    const saleId = await createSale(calls[0]!, ADMIN, { items: 200, stock_per_item: 1_000, per_user_limit: 1_000 })
    const [tokenRow] = await db.sql<{ token: string }[]>`SELECT token FROM sales WHERE id = ${saleId}`
    const keys = saleShardKeys('fs', saleId, tokenRow!.token, 1)[0]!
    const { answers } = await killUnderLoad(t, cluster, calls[0]!, keys.meta, trouble)

    // Every reservation answered 200 must still exist after the failover.
    const acknowledged = answers.filter((a) => a.status === 200).map((a) => a.code!)
    const kept = await Promise.all(acknowledged.map((code) => cluster.client.hexists(keys.res, code)))
    const lost = kept.filter((k) => k === 0).length
    t.comment(`acknowledged reservations lost by the failover: ${lost} of ${acknowledged.length}`)
    if (replicas > 0) t.equal(lost, 0, 'with WAIT, every acknowledged reservation survives the failover')
    const answered = answers.filter((a) => a.status !== 0).length
    // The attempt log drains the stream and the in-process records (503s answered at the deadline
    // are recorded once their Redis call ends): wait for both, then count.
    let last = {}
    const stored = await eventually('the attempt log caught up', async () => {
      const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM checkout_attempts WHERE sale_id = ${saleId}`
      const backlog = await cluster.client.xlen(keys.log)
      last = { rows: row!.n, backlog }
      return backlog === 0 && (replicas === 0 || row!.n >= answered) ? row!.n : undefined
    }, 20_000).catch((err) => {
      t.comment(`${JSON.stringify(last)} of ${answered} answered\n${trouble()}`)
      throw err
    })
    t.comment(`checkout attempts answered ${answered}, in Postgres ${stored}: ${answered - stored} lost with the old master`)
    t.ok(stored <= answered, 'no attempt stored twice')
    // Any refusal is recorded in the process, not only in the old master's stream; with WAIT, every
    // answer the stream alone holds was on a replica before it was given.
    if (replicas > 0) t.equal(stored, answered, 'with WAIT, no answered attempt is lost')
    await eventually('/health 200 once the cluster reports ok', async () => (await calls[0]!('GET', '/health')).status === 200, 10_000)
  })
}
