import postgres from 'postgres'
import { createSale } from '../kit/operator-client.ts'
import { between, scrape } from './breakdown.ts'
import { costMeter } from './cost.ts'
import { arrivals, hammer, inParallel, listenOverflows, machineCpu, processCpu, type Client } from './load.ts'

export interface PhaseSettings {
  url: string
  /** The Redis the service uses (alone during the run), for its CPU time per request. */
  redisUrl: string
  /** The service's process, for its CPU use. */
  servicePid: number
  /** The service's database, for its backends' CPU time per request. */
  databaseUrl: string
  connections: number
  duration: number
  warmup: number
  purchases: number
  items: number
  selloutConnections: number
  burst: { rate: number; seconds: number }
  adminToken: string
  log: (message: string) => void
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits
const path = (prefix: string, items: number) => (i: number) => `/checkout?user_id=${prefix}${i}&id=${(i % items) + 1}`

/**
 * One measured load: its throughput, the CPU per request of each process and of Redis by
 * command, the machine's and the service's CPU shares, and the service's own histograms over it.
 */
async function measured (s: PhaseSettings, api: Client, load: () => ReturnType<typeof hammer>) {
  const before = await scrape(api.send)
  const meter = await costMeter(s)
  const machine = machineCpu()
  const service = processCpu(s.servicePid)
  const result = await load()
  const machinePercent = machine()
  const servicePercent = service()
  const redisCommands = await meter.redisCommands(result.requests)
  const cost = await meter.perRequest(result.requests)
  return { ...result, machinePercent, servicePercent, cost, redisCommands, breakdown: between(before, await scrape(api.send)) }
}

/** Closed-loop checkouts at `connections`, on a sale with stock to spare, every buyer distinct. */
export async function checkoutPhase (s: PhaseSettings, api: Client, prefix = 'c') {
  await createSale(api.send, s.adminToken, { items: s.items, stock_per_item: 1_000, per_user_limit: 1_000_000, reservation_ttl_seconds: 3_600 })
  await hammer(s.url, path(`${prefix}w`, s.items), { connections: s.connections, duration: s.warmup })
  return measured(s, api, () => hammer(s.url, path(prefix, s.items), { connections: s.connections, duration: s.duration }))
}

/** Reservations made ahead of a purchase phase, one per distinct buyer. */
async function reserve (s: PhaseSettings, api: Client, prefix: string, n: number): Promise<string[]> {
  const codes: string[] = new Array(n)
  await inParallel(n, s.connections, async (i) => {
    const res = await api.post(`/checkout?user_id=${prefix}${i}&id=${(i % s.items) + 1}`)
    if (res.status !== 200) throw new Error(`reservation ${i} failed: ${res.status} ${JSON.stringify(res.body)}`)
    codes[i] = res.body.code
  })
  return codes
}

/** Closed-loop purchases of distinct reservations at `connections`. */
export async function purchasePhase (s: PhaseSettings, api: Client) {
  const warm = 2_000
  const codes = await reserve(s, api, 'p', s.purchases + warm)
  await hammer(s.url, (i) => `/purchase?code=${codes[Math.min(i, warm - 1)]}`, { connections: s.connections, amount: warm })
  const paid = codes.slice(warm)
  return measured(s, api, () => hammer(s.url, (i) => `/purchase?code=${paid[Math.min(i, paid.length - 1)]}`, {
    connections: s.connections, amount: paid.length,
  }))
}

/**
 * Below saturation: requests arrive at a set rate (half the closed-loop maximum measured),
 * whether or not earlier ones were answered, so a queue shows in the latency.
 */
export async function openModelPhase (s: PhaseSettings, api: Client, checkoutMax: number, purchaseMax: number) {
  const seconds = 5
  const checkoutRate = Math.round(checkoutMax / 2)
  let machine = machineCpu()
  const checkout = { ...await arrivals(s.url, path('o', s.items), { rate: checkoutRate, seconds, newConnection: false }), machinePercent: machine() }
  const purchaseRate = Math.round(purchaseMax / 2)
  const codes = await reserve(s, api, 'q', purchaseRate * seconds)
  machine = machineCpu()
  const purchase = {
    ...await arrivals(s.url, (i) => `/purchase?code=${codes[i]}`, { rate: purchaseRate, seconds, newConnection: false }),
    machinePercent: machine(),
  }
  return { checkoutRate, checkout, purchaseRate, purchase }
}

/** Each of 500 codes submitted three times at once, 150 requests in flight: one purchase_id each. */
export async function doubleSubmitPhase (s: PhaseSettings, api: Client) {
  const codes = await reserve(s, api, 'd', 500)
  const sends = codes.flatMap((code) => [code, code, code])
  const answers: { code: string; status: number; id?: string }[] = []
  let next = 0
  await Promise.all(Array.from({ length: 150 }, async () => {
    while (next < sends.length) {
      const code = sends[next++]!
      const res = await api.post(`/purchase?code=${code}`)
      answers.push({ code, status: res.status, id: res.body?.purchase_id })
    }
  }))
  const ids = new Map<string, Set<string | undefined>>()
  for (const a of answers) ids.set(a.code, (ids.get(a.code) ?? new Set()).add(a.id))
  const ok = answers.filter((a) => a.status === 200).length
  return {
    share_200: round(ok / answers.length, 4),
    in_progress_409: answers.filter((a) => a.status === 409).length,
    codes_with_one_id: [...ids.values()].filter((set) => set.size === 1).length,
  }
}

/** Clients that open a connection per request, at a burst: the listen queue must hold them. */
export async function burstPhase (s: PhaseSettings) {
  const before = listenOverflows()
  const result = await arrivals(s.url, path('k', s.items), { rate: s.burst.rate, seconds: s.burst.seconds, newConnection: true })
  return { ...result, listenOverflows: listenOverflows() - before }
}

/** `items` one-unit items, each checked out then purchased by a buyer of its own. */
export async function selloutPhase (s: PhaseSettings, api: Client, databaseUrl: string) {
  const saleId = await createSale(api.send, s.adminToken, { items: s.items, stock_per_item: 1, per_user_limit: 10 })
  let failures = 0
  // What each failure was answered, e.g. `purchase 503 unavailable`.
  const failed: Record<string, number> = {}
  const fail = (step: string, res: { status: number; body: any }) => {
    failures++
    const what = `${step} ${res.status} ${res.body?.error ?? ''}`.trim()
    failed[what] = (failed[what] ?? 0) + 1
  }
  const started = performance.now()
  await inParallel(s.items, s.selloutConnections, async (i) => {
    const reserved = await api.post(`/checkout?user_id=s${i}&id=${i + 1}`)
    if (reserved.status !== 200) return fail('checkout', reserved)
    const bought = await api.post(`/purchase?code=${reserved.body.code}`)
    if (bought.status !== 200) fail('purchase', bought)
  })
  const seconds = round((performance.now() - started) / 1000, 3)
  // Read the instant the last purchase was answered: every row must be there already.
  const { rows, oversold } = await purchasesInPostgres(databaseUrl, saleId)
  const after = await api.post('/checkout?user_id=late&id=1')
  return { saleId, seconds, failures, failed, rows, oversold, afterStatus: `${after.status} ${after.body.error ?? ''}`.trim() }
}

/** Purchase rows of a sale, and units sold beyond an item's stock, from the tables themselves. */
async function purchasesInPostgres (url: string, saleId: number): Promise<{ rows: number; oversold: number }> {
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    const [row] = await sql<{ rows: number; oversold: number }[]>`
      SELECT (SELECT count(*)::int FROM purchases WHERE sale_id = ${saleId}) AS rows,
             coalesce(sum(greatest(p.n - i.stock, 0)), 0)::int AS oversold
      FROM (SELECT item_id, count(*)::int AS n FROM purchases WHERE sale_id = ${saleId} GROUP BY item_id) p
      LEFT JOIN items i ON i.sale_id = ${saleId} AND i.id = p.item_id`
    return row!
  } finally {
    await sql.end()
  }
}
