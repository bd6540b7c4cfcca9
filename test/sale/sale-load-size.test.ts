import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'
import { eventually } from '../helpers/eventually.ts'
import { findKeys } from '../helpers/test-redis.ts'

// The largest sale the operator API accepts, every item of it sold once: rebuilding it in Redis
// takes one pair per item and one per buyer, far more than one command's arguments.
const ITEMS = 100_000
const BUYERS = 50_000

for (const shards of [1, 3]) {
  t.test(`a sale of ${ITEMS} items, every one sold, is rebuilt in Redis (SALE_SHARDS=${shards})`, async (t) => {
    const { app, sql, redis, createSale } = await buildTestApp(t, { SALE_SHARDS: shards })
    const saleId = await createSale({ items: ITEMS, stock_per_item: 2, per_user_limit: 5 })
    await sql`
      INSERT INTO purchases (code, sale_id, item_id, user_id)
      SELECT 'load-' || i, ${saleId}, i, 'b' || (i % ${BUYERS}) FROM generate_series(1, ${ITEMS}) AS i`
    const sale = app.sale.catalog.get(saleId)!
    const rebuilt = async (lost: typeof sale.shards) => {
      for (const keys of lost) await redis.del(...keys.state)
      await eventually('the lost shards loaded again', async () => {
        await app.sale.tick()
        return (await Promise.all(lost.map((keys) => redis.exists(keys.meta)))).every((n) => n === 1)
      }, 20_000)
      const stock = (await Promise.all(sale.shards.map((keys) => redis.hvals(keys.stock)))).flat().map(Number)
      const users = (await Promise.all(sale.shards.map((keys) => redis.hvals(keys.users)))).flat().map(Number)
      const sold = (await Promise.all(sale.shards.map((keys) => redis.hget(keys.meta, 'sold')))).map(Number)
      return { free: stock.reduce((n, v) => n + v, 0), users, sold: sold.reduce((n, v) => n + v, 0) }
    }

    // Every shard lost (Redis restarted empty): each is loaded with its share of what is left.
    const all = await rebuilt(sale.shards)
    t.equal(all.free, ITEMS, 'the units left are exactly those Postgres did not sell: one of each item')
    t.equal(all.users.length, BUYERS, 'every buyer is counted')
    t.same([...new Set(all.users)], [2], 'with the units they bought')
    t.equal(all.sold, ITEMS, 'every sold unit counts as sold')
    if (shards > 1) {
      // One shard lost while the others serve: it gets every unit neither sold nor held by them.
      const one = await rebuilt([sale.shards[1]!])
      t.same(one, all, 'one shard rebuilt from Postgres and the others: the same units, buyers and sales')
    }
    await eventually('no staged pairs left behind', async () =>
      (await findKeys(redis, `${app.config.REDIS_KEY_PREFIX}:*:load:*`)).length === 0)
  })
}
