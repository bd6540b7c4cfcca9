import t from 'tap'
import postgres from 'postgres'
import { insertPurchases, type NewPurchase } from '../../src/repositories/purchases.ts'
import { eventually } from '../helpers/eventually.ts'
import { testDatabase } from '../helpers/services.ts'

/** A connection that plans every prepared statement once, generically, as a long-lived pool does. */
function genericPlans (url: string): postgres.Sql {
  return postgres(url, { max: 1, onnotice: () => {}, connection: { plan_cache_mode: 'force_generic_plan' } })
}

/** Whole-table reads of `purchases` so far, with this connection's own counts flushed first. */
async function purchaseScans (sql: postgres.Sql, reader: postgres.Sql): Promise<number> {
  await sql`SELECT pg_stat_force_next_flush()`
  await sql`SELECT 1`
  const [row] = await reader`SELECT seq_scan::int AS n FROM pg_stat_user_tables WHERE relname = 'purchases'`
  return row!.n
}

async function newSale (sql: postgres.Sql): Promise<number> {
  const [sale] = await sql<{ id: number }[]>`
    INSERT INTO sales (starts_at, ends_at, per_user_limit, reservation_ttl_seconds, items, stock_per_item)
    VALUES (now(), now() + interval '1 hour', 10, 300, 100, 100) RETURNING id::int`
  return sale!.id
}

const batch = (saleId: number, from: number, n: number): NewPurchase[] =>
  Array.from({ length: n }, (_, i) => ({ code: `code-${from + i}`, saleId, itemId: 1 + ((from + i) % 100), userId: `u${from + i}` }))

t.test('a batch of purchases never reads the whole table, however its plan was cached', async (t) => {
  const { url, sql: reader } = await testDatabase(t)
  const saleId = await newSale(reader)
  const sql = genericPlans(url)
  t.teardown(() => sql.end())

  // The plan is made while the table is empty, and kept for every batch after.
  const before = await purchaseScans(sql, reader)
  for (let b = 0; b < 20; b++) await insertPurchases(sql, batch(saleId, b * 50, 50))
  t.equal(await purchaseScans(sql, reader) - before, 0, 'no sequential scan of purchases in 20 batches')
  const [{ n }] = await reader<[{ n: number }]>`SELECT count(*)::int AS n FROM purchases WHERE sale_id = ${saleId}`
  t.equal(n, 1_000, 'every purchase stored')
})

t.test('a code purchased already is found, with its id, in the order given', async (t) => {
  const { sql } = await testDatabase(t)
  const saleId = await newSale(sql)
  const first = await insertPurchases(sql, batch(saleId, 0, 3))
  t.same(first.map((r) => r.inserted), [true, true, true])
  const again = await insertPurchases(sql, [...batch(saleId, 3, 1), ...batch(saleId, 1, 1), ...batch(saleId, 4, 1)])
  t.same(again.map((r) => r.inserted), [true, false, true], 'only the taken code is not inserted')
  t.equal(again[1]!.id, first[1]!.id, 'the taken code answers the id of its purchase')
  const [{ n }] = await sql<[{ n: number }]>`SELECT count(*)::int AS n FROM purchases`
  t.equal(n, 5, 'one row per code')
})

t.test('a batch waiting on a purchase of the same code committed meanwhile answers that purchase', async (t) => {
  const { url, sql } = await testDatabase(t)
  const saleId = await newSale(sql)
  const other = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => other.end())
  const [row] = batch(saleId, 7, 1)
  // The other transaction inserts the code and holds it uncommitted; the batch's insert waits on it.
  let commit!: () => void
  const held = new Promise<void>((resolve) => { commit = resolve })
  let inserted!: () => void
  const insertedInOther = new Promise<void>((resolve) => { inserted = resolve })
  const otherTx = other.begin(async (tx) => {
    await tx`INSERT INTO purchases (code, sale_id, item_id, user_id) VALUES (${row!.code}, ${saleId}, ${row!.itemId}, ${row!.userId})`
    inserted()
    await held
  })
  await insertedInOther
  const ours = insertPurchases(sql, [row!])
  // Commit only once the batch's insert waits on the other transaction's row.
  const watch = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => watch.end())
  await eventually('the batch waiting on the other transaction', async () => {
    const [w] = await watch<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'`
    return w!.n > 0
  })
  commit()
  await otherTx
  const [answer] = await ours
  const [stored] = await sql<{ id: string }[]>`SELECT id::text FROM purchases WHERE code = ${row!.code}`
  t.same(answer, { id: stored!.id, inserted: false }, 'the purchase committed first')
})
