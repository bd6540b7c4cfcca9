import t from 'tap'
import postgres from 'postgres'
import { createSale, recentSale, recentSales, type NewSale } from '../../src/repositories/sales.ts'
import { testDatabaseUrl } from '../helpers/services.ts'

const HOUR_MS = 3_600_000

function newSale (startsAt: number, endsAt: number, slot: Date | null = null): NewSale {
  return {
    slot,
    starts_at: new Date(startsAt),
    ends_at: new Date(endsAt),
    per_user_limit: 2,
    reservation_ttl_seconds: 90,
    items: 3,
    stock_per_item: 5,
    shards: 1,
  }
}

t.test('a sale is stored and read back with every column, through prepared statements', async (t) => {
  // One connection: the statements it prepared are the ones this session sees.
  const sql = postgres(await testDatabaseUrl(t), { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  const now = Date.now()
  const first = await createSale(sql, newSale(now - HOUR_MS, now + HOUR_MS))
  t.ok(first, 'created')
  t.match(first!.sale, {
    id: String, token: String, slot: null, per_user_limit: 2, reservation_ttl_seconds: 90, items: 3, stock_per_item: 5, units_total: '15', shards: 1,
  })
  t.equal(first!.sale.starts_at.getTime(), now - HOUR_MS)
  t.same(first!.changed, [], 'it overlapped nothing')

  const second = await createSale(sql, newSale(now, now + 2 * HOUR_MS))
  t.same(second!.changed.map((r) => [r.id, r.ends_at.getTime()]), [[first!.sale.id, now]], 'the first gives way: it ends where the second starts')
  t.same((await recentSales(sql, 3600)).map((r) => r.id), [first!.sale.id, second!.sale.id], 'both are recent, by start')
  t.same(await recentSale(sql, Number(second!.sale.id), 3600), second!.sale, 'one reads back as created')

  const slot = new Date(now + 3 * HOUR_MS)
  t.ok(await createSale(sql, newSale(slot.getTime(), slot.getTime() + HOUR_MS, slot)), 'a scheduled slot')
  t.equal(await createSale(sql, newSale(slot.getTime(), slot.getTime() + HOUR_MS, slot)), null, 'the same slot again gives way')

  const prepared = await sql<{ statement: string }[]>`SELECT statement FROM pg_prepared_statements`
  for (const [what, pattern] of [
    ['the recent sales', /^\s*SELECT "id","token",[^]*FROM sales[^]*ORDER BY starts_at/],
    ['one sale', /^\s*SELECT "id","token",[^]*FROM sales\s+WHERE id = \$1/],
    ['the sales giving way', /^\s*UPDATE sales SET ends_at[^]*RETURNING "id","token"/],
    ['the new sale', /^INSERT INTO sales \("slot","starts_at",[^)]*"shards"\)\s*values\s*\(\$1,[^)]*\$8\) RETURNING "id"/i],
  ] as const) {
    t.ok(prepared.some((p) => pattern.test(p.statement)), `${what}: a prepared statement with quoted column names`)
  }
})
