import t from 'tap'
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { migrate, MIGRATIONS_DIR } from '../../src/migrate.ts'
import { insertAttempts } from '../../src/repositories/attempts.ts'
import { dropExpiredAttempts } from '../../src/repositories/partitions.ts'
import { testDatabase, testDatabaseUrl } from '../helpers/services.ts'
import { loadConfig } from '../../src/config.ts'

const PARTITIONED = '005_partitioned_attempts_and_audit.sql'

/** The migrations before the attempt log was partitioned, in a directory of their own. */
function migrationsBefore (name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'flashsale-migrations-'))
  for (const f of readdirSync(MIGRATIONS_DIR)) if (f < name) cpSync(join(MIGRATIONS_DIR, f), join(dir, f))
  return dir
}

async function partitionsOf (sql: postgres.Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'checkout_attempts'::regclass ORDER BY c.relname`
  return rows.map((r) => r.name)
}

t.test('partitioning the attempt log keeps every row, ids and keys', async (t) => {
  const url = await testDatabaseUrl(t, { migrated: false })
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  const before = migrationsBefore(PARTITIONED)
  t.teardown(() => rmSync(before, { recursive: true }))
  await migrate(sql, before)

  await sql`INSERT INTO sales (starts_at, ends_at, per_user_limit, reservation_ttl_seconds, items, stock_per_item)
            SELECT now() - make_interval(hours => g), now() - make_interval(hours => g - 1), 10, 300, 5, 1 FROM generate_series(1, 3) g`
  await sql`INSERT INTO checkout_attempts (sale_id, user_id, item_id, result, code, created_at, stream_id, attempt_key)
            SELECT CASE WHEN g % 10 = 0 THEN NULL WHEN g % 10 = 1 THEN 99 ELSE 1 + g % 3 END, 'u' || g, 1 + g % 5,
                   CASE WHEN g % 2 = 0 THEN 'success' ELSE 'sold_out' END, NULL, now(), g::text,
                   CASE WHEN g % 7 = 0 THEN NULL ELSE 'k' || g END
              FROM generate_series(1, 30000) g`
  const count = () => sql`SELECT count(*)::int AS n, sum(id)::text AS ids, count(attempt_key)::int AS keys,
                                 count(*) FILTER (WHERE sale_id IS NULL)::int AS no_sale,
                                 md5(string_agg(id || '|' || coalesce(sale_id::text, '') || '|' || user_id || '|' || result || '|' || coalesce(attempt_key, ''), ',' ORDER BY id)) AS digest
                            FROM checkout_attempts`
  const [old] = await count()
  const [{ last }] = await sql`SELECT max(id)::int AS last FROM checkout_attempts` as unknown as [{ last: number }]

  t.same(await migrate(sql), [PARTITIONED, ...readdirSync(MIGRATIONS_DIR).filter((f) => f > PARTITIONED && f.endsWith('.sql')).sort()])
  const [now] = await count()
  t.same(now, old, 'same rows, same ids, same fields')
  t.equal(old!.n, 30_000)
  t.same(await partitionsOf(sql), ['checkout_attempts_default', 'checkout_attempts_no_sale', 'checkout_attempts_s1', 'checkout_attempts_s2', 'checkout_attempts_s3'])
  const [stray] = await sql`SELECT count(*)::int AS n FROM checkout_attempts_default`
  t.equal(stray!.n, 3_000, 'attempts of a sale that never existed are kept, in the default partition')

  // New attempts: ids go on from the old sequence; the drain's idempotent insert still works.
  const row = { attempt_key: 'again', sale_id: 2, user_id: 'x', item_id: 1, result: 'success', code: null, created_at: new Date(), stream_id: null }
  await insertAttempts(sql, [row, { ...row, attempt_key: 'nosale', sale_id: null, result: 'sale_not_active' }])
  await insertAttempts(sql, [{ ...row, result: 'error' }])
  const fresh = await sql`SELECT id::int, sale_id::int, result FROM checkout_attempts WHERE attempt_key IN ('again', 'nosale') ORDER BY id`
  t.same(fresh.map((r) => [r.sale_id, r.result]), [[2, 'error'], [null, 'sale_not_active']], 'one row per attempt, an error outcome winning')
  t.ok(fresh.every((r) => r.id > last), 'ids continue after the old ones')
  const [noSale] = await sql`SELECT count(*)::int AS n FROM checkout_attempts_no_sale WHERE attempt_key = 'nosale'`
  t.equal(noSale!.n, 1, 'an attempt of no sale has a partition of its own')
})

t.test('a sale gets its partition when created; retention drops only attempts of sales ended long enough ago', async (t) => {
  const { sql } = await testDatabase(t, 2)
  const sale = async (endedDaysAgo: number) => {
    const [row] = await sql`INSERT INTO sales (starts_at, ends_at, per_user_limit, reservation_ttl_seconds, items, stock_per_item)
      VALUES (now() - make_interval(days => ${endedDaysAgo}, hours => 1), now() - make_interval(days => ${endedDaysAgo}), 1, 1, 1, 1) RETURNING id::int`
    await sql.unsafe(`CREATE TABLE checkout_attempts_s${row!.id} PARTITION OF checkout_attempts FOR VALUES IN (${row!.id})`)
    await sql`INSERT INTO checkout_attempts (sale_id, result, created_at, attempt_key) SELECT ${row!.id}, 'success', now(), 'a' || g FROM generate_series(1, 100) g`
    await sql`INSERT INTO purchases (code, sale_id, item_id, user_id) VALUES (${`p${row!.id}`}, ${row!.id}, 1, 'u')`
    return row!.id as number
  }
  const old = await sale(40)
  const edge = await sale(29)
  const recent = await sale(1)
  // A sale whose partition went missing: its attempts went to the default partition.
  const [orphan] = await sql`INSERT INTO sales (starts_at, ends_at, per_user_limit, reservation_ttl_seconds, items, stock_per_item)
    VALUES (now() - interval '50 days', now() - interval '49 days', 1, 1, 1, 1) RETURNING id::int`
  await sql`INSERT INTO checkout_attempts (sale_id, result, created_at, attempt_key) SELECT ${orphan!.id}, 'success', now(), 'o' || g FROM generate_series(1, 10) g`
  await sql`INSERT INTO checkout_attempts (sale_id, result, created_at, attempt_key) VALUES (NULL, 'sale_not_active', now(), 'none'), (777, 'invalid', now(), 'ghost')`
  await sql`INSERT INTO operator_actions (action, sale_id, outcome, operator) VALUES ('end_sale', ${old}, 'done', 'alice')`

  t.same(await dropExpiredAttempts(sql, 0), { ran: false, sales: [] }, '0 keeps everything')
  // Another instance holds the lock: this one skips the pass.
  const other = await sql.reserve()
  await other`SELECT pg_advisory_lock(hashtext('flashsale:attempt-retention'))`
  t.same(await dropExpiredAttempts(sql, 30), { ran: false, sales: [] }, 'one instance at a time')
  await other`SELECT pg_advisory_unlock(hashtext('flashsale:attempt-retention'))`
  other.release()

  t.same(await dropExpiredAttempts(sql, 30), { ran: true, sales: [old, orphan!.id] })
  const left = await sql`SELECT sale_id::int, count(*)::int AS n FROM checkout_attempts GROUP BY sale_id ORDER BY sale_id NULLS FIRST`
  t.same(left.map((r) => [r.sale_id, r.n]), [[null, 1], [edge, 100], [recent, 100], [777, 1]], 'the rest is untouched')
  t.notOk((await partitionsOf(sql)).includes(`checkout_attempts_s${old}`), 'the old sale\'s partition is gone')
  const [kept] = await sql`SELECT (SELECT count(*)::int FROM purchases) AS purchases, (SELECT count(*)::int FROM sales) AS sales,
                                  (SELECT count(*)::int FROM operator_actions) AS audit`
  t.same(kept, { purchases: 3, sales: 4, audit: 1 }, 'purchases, sales and the audit are never dropped')
  t.same(await dropExpiredAttempts(sql, 30), { ran: true, sales: [] }, 'a second pass finds nothing')
})

t.test('a sale created through the catalog has its partition, and its attempts land there', async (t) => {
  const { buildTestApp } = await import('../helpers/app.ts')
  const { app, createSale, sql } = await buildTestApp(t)
  const saleId = await createSale({ items: 2, stock_per_item: 1 })
  t.ok((await partitionsOf(sql)).includes(`checkout_attempts_s${saleId}`))
  await app.inject({ method: 'POST', url: '/checkout?user_id=ann&id=1' })
  await app.sale.attempts.drain()
  const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM checkout_attempts_s${saleId}`)
  t.equal(row!.n, 1)
})

t.test('with ATTEMPT_RETENTION_DAYS the service drops expired attempts by itself, from its start', async (t) => {
  const { buildTestApp } = await import('../helpers/app.ts')
  const url = await testDatabaseUrl(t)
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  t.teardown(() => sql.end())
  const [old] = await sql`INSERT INTO sales (starts_at, ends_at, per_user_limit, reservation_ttl_seconds, items, stock_per_item)
    VALUES (now() - interval '10 days', now() - interval '9 days', 1, 1, 1, 1) RETURNING id::int`
  await sql.unsafe(`CREATE TABLE checkout_attempts_s${old!.id} PARTITION OF checkout_attempts FOR VALUES IN (${old!.id})`)
  await buildTestApp(t, { DATABASE_URL: url, ATTEMPT_RETENTION_DAYS: 7 })
  const { eventually } = await import('../helpers/eventually.ts')
  await eventually('the expired partition to be dropped', async () => !(await partitionsOf(sql)).includes(`checkout_attempts_s${old!.id}`))
  t.pass('dropped')
  t.equal(loadConfigDays('0'), 0, '0 keeps everything (the default)')
  t.throws(() => loadConfigDays('-1'), /ATTEMPT_RETENTION_DAYS/)
})

function loadConfigDays (value: string): number {
  return loadConfig({ ATTEMPT_RETENTION_DAYS: value }).ATTEMPT_RETENTION_DAYS
}
