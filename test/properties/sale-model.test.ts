import t from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { buildTestApp } from '../helpers/app.ts'
import { shardOfCode } from '../../src/sale/keys.ts'
import type { RedisClient } from '../../src/sale/redis-client.ts'

const ITEMS = 3
const STOCK = 2
const LIMIT = 2
const USERS = ['ann', 'bob', 'cid']

/** The reference: what a sale must answer, in a few lines of plain code. */
interface Model {
  saleId: number
  free: number[]
  held: Map<string, number>
  codes: { code: string; item: number; user: string; state: 'R' | 'S' | 'X'; purchaseId?: string }[]
  /** Every checkout as its attempt row must read: user, item, result. */
  attempts: string[]
}
interface Real {
  app: FastifyInstance
  redis: RedisClient
  prefix: string
}

const answer = (res: { statusCode: number; json(): any }) =>
  res.statusCode === 200 ? 200 : `${res.statusCode} ${res.json().error}`

class Checkout implements fc.AsyncCommand<Model, Real> {
  readonly user: string
  readonly item: number
  constructor (user: string, item: number) {
    this.user = user
    this.item = item
  }

  check = () => true
  async run (m: Model, r: Real) {
    const res = await r.app.inject({ method: 'POST', url: `/checkout?user_id=${this.user}&id=${this.item}` })
    let expected: number | string = 200
    let result = 'success'
    if (this.item > ITEMS) [expected, result] = ['404 item_not_found', 'item_not_found']
    else if (m.free[this.item]! <= 0) [expected, result] = ['409 sold_out', 'sold_out']
    else if ((m.held.get(this.user) ?? 0) >= LIMIT) [expected, result] = ['429 user_limit_reached', 'user_limit']
    m.attempts.push(`${this.user} ${this.item} ${result}`)
    if (answer(res) !== expected) throw new Error(`${this}: got ${answer(res)}, model says ${expected}`)
    if (expected === 200) {
      m.free[this.item]!--
      m.held.set(this.user, (m.held.get(this.user) ?? 0) + 1)
      m.codes.push({ code: res.json().code, item: this.item, user: this.user, state: 'R' })
    }
  }

  toString = () => `checkout(${this.user}, ${this.item})`
}

class Purchase implements fc.AsyncCommand<Model, Real> {
  readonly pick: number
  constructor (pick: number) {
    this.pick = pick
  }

  check = (m: Readonly<Model>) => m.codes.length > 0
  async run (m: Model, r: Real) {
    const c = m.codes[this.pick % m.codes.length]!
    const res = await r.app.inject({ method: 'POST', url: `/purchase?code=${c.code}` })
    const expected = c.state === 'X' ? '410 code_expired' : 200
    if (answer(res) !== expected) throw new Error(`${this} of ${c.state}: got ${answer(res)}, model says ${expected}`)
    if (c.state === 'S' && res.json().purchase_id !== c.purchaseId) throw new Error(`${this}: replay changed purchase_id`)
    if (c.state === 'R') {
      c.state = 'S'
      c.purchaseId = res.json().purchase_id
      if (res.json().user_id !== c.user || res.json().item_id !== c.item) throw new Error(`${this}: wrong purchase ${res.body}`)
    }
  }

  toString = () => `purchase(#${this.pick})`
}

class PurchaseUnknown implements fc.AsyncCommand<Model, Real> {
  readonly hex: string
  constructor (hex: string) {
    this.hex = hex
  }

  check = () => true
  async run (m: Model, r: Real) {
    const res = await r.app.inject({ method: 'POST', url: `/purchase?code=${m.saleId}-${this.hex}` })
    if (answer(res) !== '404 code_not_found') throw new Error(`${this}: got ${answer(res)}`)
  }

  toString = () => `purchase(unknown ${this.hex.slice(0, 6)})`
}

/** Time passes for one reservation: its expiry is moved to the past, then the sweeper runs. */
class Expire implements fc.AsyncCommand<Model, Real> {
  readonly pick: number
  constructor (pick: number) {
    this.pick = pick
  }

  check = (m: Readonly<Model>) => m.codes.length > 0
  async run (m: Model, r: Real) {
    const c = m.codes[this.pick % m.codes.length]!
    const { shards } = r.app.sale.catalog.get(m.saleId)!
    const keys = shards[shardOfCode(c.code, shards.length)]!
    const v = await r.redis.hget(keys.res, c.code)
    if (v?.startsWith('R|')) {
      const [state, item, user] = v.split('|')
      await r.redis.multi().hset(keys.res, c.code, `${state}|${item}|${user}|1`).zadd(keys.due, 1, c.code).exec()
    }
    await r.app.sale.tick()
    if (c.state === 'R') {
      c.state = 'X'
      m.free[c.item]!++
      m.held.set(c.user, m.held.get(c.user)! - 1)
    }
  }

  toString = () => `expire(#${this.pick})`
}

const checkout = fc.tuple(fc.constantFrom(...USERS), fc.integer({ min: 1, max: ITEMS + 1 })).map(([u, i]) => new Checkout(u, i))
const commands = [
  checkout,
  checkout,
  checkout,
  fc.nat().map((n) => new Purchase(n)),
  fc.nat().map((n) => new Purchase(n)),
  fc.stringMatching(/^[0-9a-f]{32}$/).map((h) => new PurchaseUnknown(h)),
  fc.nat().map((n) => new Expire(n)),
]

// The same model, whether the sale lives on one shard or is spread over three.
for (const shards of [1, 3]) {
  t.test(`random checkouts, purchases, replays and expiries agree with a reference model (SALE_SHARDS=${shards})`, async (t) => {
    const { app, createSale, redis, config, sql } = await buildTestApp(t, {
      RATE_LIMIT_IP_MAX: 0, RATE_LIMIT_USER_MAX: 0, SWEEP_INTERVAL_MS: 60_000, SALE_SHARDS: shards,
    })
    let runs = 0
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: 'max' }), async (cmds) => {
        const saleId = await createSale({ items: ITEMS, stock_per_item: STOCK, per_user_limit: LIMIT, reservation_ttl_seconds: 600 })
        const model: Model = { saleId, free: [0, ...Array(ITEMS).fill(STOCK)], held: new Map(), codes: [], attempts: [] }
        await fc.asyncModelRun(() => ({ model, real: { app, redis, prefix: config.REDIS_KEY_PREFIX } }), cmds)

        const sold = model.codes.filter((c) => c.state === 'S').length
        const reserved = model.codes.filter((c) => c.state === 'R').length
        const sale = (await app.inject('/sale')).json()
        const expected = { units_total: ITEMS * STOCK, units_sold: sold, units_reserved: reserved, units_available: ITEMS * STOCK - sold - reserved }
        if (JSON.stringify({ ...sale, ...expected }) !== JSON.stringify(sale)) {
          throw new Error(`final counts ${JSON.stringify(sale)} != model ${JSON.stringify(expected)}`)
        }
        const items = (await app.inject('/sale/items')).json().items.map((i: { available: number }) => i.available)
        if (JSON.stringify(items) !== JSON.stringify(model.free.slice(1))) throw new Error(`stock ${items} != model ${model.free.slice(1)}`)
        const [row] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM purchases WHERE sale_id = ${saleId}`
        if (row!.n !== sold) throw new Error(`${row!.n} purchase rows, model sold ${sold}`)
        await app.sale.attempts.drain()
        const stored = (await sql<{ a: string }[]>`
        SELECT user_id || ' ' || item_id || ' ' || result AS a FROM checkout_attempts WHERE sale_id = ${saleId}`).map((x) => x.a)
        if (JSON.stringify(stored.sort()) !== JSON.stringify([...model.attempts].sort())) {
          throw new Error(`stored attempts ${JSON.stringify(stored)} != model ${JSON.stringify(model.attempts)}`)
        }
        runs++
      }),
      { numRuns: 40 }
    )
    t.equal(runs, 40, 'every run agreed with the model on every answer, the final counts and the stored attempts')
  })
}
