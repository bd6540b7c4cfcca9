import t from 'tap'
import { Writable } from 'node:stream'
import { build, serverOptions } from '../../src/server.ts'
import { uniqueName } from '../../kit/scratch-servers.ts'
import { testDatabaseUrl } from '../helpers/services.ts'
import { dropKeys, testRedisClient, testRedisConfig } from '../helpers/test-redis.ts'
import { ADMIN_TOKEN, buildTestApp } from '../helpers/app.ts'
import { loadConfig, ConfigError } from '../../src/config.ts'
import { operatorMatcher, tokenFingerprint } from '../../src/bearer-token.ts'

const HOUR = 3_600_000
const ALICE = 'alice-token-0123456789abcdef'
const BOB = 'bob-token-0123456789abcdef'

t.test('ADMIN_TOKENS names operators; bad entries are refused at start without quoting a token', async (t) => {
  const config = loadConfig({ ADMIN_TOKENS: `alice:${ALICE}, bob:${BOB}` })
  t.same(config.ADMIN_TOKENS, [{ name: 'alice', token: ALICE }, { name: 'bob', token: BOB }])
  t.same(loadConfig({}).ADMIN_TOKENS, [], 'none by default')
  t.doesNotThrow(() => loadConfig({ SALE_SCHEDULE: 'off', ADMIN_TOKENS: `alice:${ALICE}` }), 'named tokens alone open the operator API')

  const cases: [string, RegExp][] = [
    ['alice', /entry 1: expected name:token/],
    [`:${ALICE}`, /entry 1: the name must be/],
    ['bad name:' + ALICE, /entry 1: the name must be/],
    ['alice:short-secret', /entry 1 \(alice\): the token must be at least 16 characters/],
    [`alice:${ALICE},alice:${BOB}`, /entry 2 \(alice\): the name is given twice/],
    [`alice:${ALICE},bob:${ALICE}`, /entry 2 \(bob\): the token is already another operator's/],
  ]
  for (const [value, problem] of cases) {
    const err = t.throws(() => loadConfig({ ADMIN_TOKENS: value })) as unknown as ConfigError
    t.ok(err instanceof ConfigError, value)
    t.match(err.message, problem, value)
    t.notMatch(err.message, /short-secret|0123456789abcdef/, 'no token in the message')
  }
  const same = t.throws(() => loadConfig({ ADMIN_TOKEN: ALICE, ADMIN_TOKENS: `alice:${ALICE}` })) as unknown as Error
  t.match(same.message, /already another operator's/, 'a named token may not be ADMIN_TOKEN too')
})

t.test('the operator matcher answers whose token a header carries, and nothing else', async (t) => {
  const match = operatorMatcher([{ name: 'alice', token: ALICE }, { name: 'bob', token: BOB }, { name: 'nobody', token: '' }])
  t.equal(match(`Bearer ${ALICE}`), 'alice')
  t.equal(match(`bearer  ${BOB} `), 'bob', 'the scheme is case-insensitive')
  for (const header of [undefined, '', 'Bearer', `Basic ${ALICE}`, `Bearer ${ALICE}x`, `Bearer ${ALICE.slice(1)}`, 'Bearer ', ALICE]) {
    t.equal(match(header), undefined, JSON.stringify(header))
  }
  t.equal(operatorMatcher([])(`Bearer ${ALICE}`), undefined, 'no tokens: nobody')
  const print = tokenFingerprint(ADMIN_TOKEN)
  t.match(print, /^token:[0-9a-f]{12}$/)
  t.notMatch(print, ADMIN_TOKEN.slice(0, 8))
  t.not(tokenFingerprint(ALICE), print, 'tokens have fingerprints of their own')
})

t.test('the audit has one row per operator action, naming who, never the token', async (t) => {
  const { app, sql } = await buildTestApp(t, { ADMIN_TOKENS: [{ name: 'alice', token: ALICE }, { name: 'bob', token: BOB }] })
  const as = (token: string) => ({ authorization: `Bearer ${token}`, 'x-forwarded-for': '203.0.113.9' })
  const create = await app.inject({ method: 'POST', url: '/admin/sales', headers: as(ALICE), payload: { items: 1, stock_per_item: 1 } })
  const saleId = create.json().sale_id
  const scheduled = (await app.inject({ method: 'POST', url: '/admin/sales', headers: as(BOB), payload: { items: 1, stock_per_item: 1, starts_at: new Date(Date.now() + 2 * HOUR).toISOString() } })).json().sale_id
  await app.inject({ method: 'DELETE', url: `/admin/sales/${saleId}`, headers: as(BOB) }) // refused: it runs
  await app.inject({ method: 'POST', url: `/admin/sales/${saleId}/end`, headers: as(ADMIN_TOKEN) })
  await app.inject({ method: 'DELETE', url: `/admin/sales/${scheduled}`, headers: as(ALICE) })
  await app.inject({ method: 'GET', url: `/admin/sales/${saleId}/purchases`, headers: as(BOB) })
  await app.inject({ method: 'POST', url: '/admin/sales/77777/end', headers: as(ALICE) })
  await app.inject({ method: 'POST', url: '/admin/sales', headers: as(ALICE), payload: { items: 0 } })
  // Reads are not actions; refused tokens are not stored.
  await app.inject({ method: 'GET', url: '/admin/sales', headers: as(ALICE) })
  await app.inject({ method: 'GET', url: `/admin/sales/${saleId}`, headers: as(ALICE) })
  await app.inject({ method: 'POST', url: `/admin/sales/${saleId}/end`, headers: as('wrong-token-0123456789abc') })

  const rows = await sql`SELECT action, sale_id::int, outcome, operator, client_ip, request_id FROM operator_actions ORDER BY id`
  const print = tokenFingerprint(ADMIN_TOKEN)
  t.same(rows.map((r) => [r.action, r.sale_id, r.outcome, r.operator]), [
    ['create_sale', saleId, 'done', 'alice'],
    ['create_sale', scheduled, 'done', 'bob'],
    ['cancel_sale', saleId, 'invalid_transition', 'bob'],
    ['end_sale', saleId, 'done', print],
    ['cancel_sale', scheduled, 'done', 'alice'],
    ['export_purchases', saleId, 'done', 'bob'],
    ['end_sale', 77777, 'sale_not_found', 'alice'],
    ['create_sale', null, 'invalid_request', 'alice'],
  ], 'one row per action, in order')
  t.ok(rows.every((r) => typeof r.client_ip === 'string' && r.client_ip.length > 0 && typeof r.request_id === 'string'), 'with address and request id')
  const [{ dump }] = await sql`SELECT string_agg(t::text, ' ') AS dump FROM operator_actions t` as unknown as [{ dump: string }]
  for (const token of [ADMIN_TOKEN, ALICE, BOB]) t.notMatch(dump, token, 'no token stored')

  const page = (await app.inject({ url: '/admin/audit?limit=3', headers: as(ALICE) })).json()
  t.equal(page.total, 8)
  t.same(page.actions.map((a: { action: string }) => a.action), ['create_sale', 'end_sale', 'export_purchases'], 'newest first')
  t.match(page.actions[0], { id: String, at: String, outcome: 'invalid_request', operator: 'alice', sale_id: null })
  const forSale = (await app.inject({ url: `/admin/audit?sale_id=${scheduled}`, headers: as(ALICE) })).json()
  t.same(forSale.actions.map((a: { action: string }) => a.action), ['cancel_sale', 'create_sale'])
  t.equal(forSale.total, 2)
  for (const q of ['limit=0', 'sale_id=x', 'offset=-2']) {
    const res = await app.inject({ url: `/admin/audit?${q}`, headers: as(ALICE) })
    t.same([res.statusCode, res.json().error], [400, 'invalid_request'], q)
  }
  const refused = await app.inject({ url: '/admin/audit', headers: { authorization: 'Bearer nope-nope-nope-nope-nope' } })
  t.equal(refused.statusCode, 401)
})

t.test('actions and refusals are logged: each action once, refusals at most once per interval, never a token', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const config = loadConfig({}, {
    ...testRedisConfig(),
    DATABASE_URL: await testDatabaseUrl(t),
    REDIS_KEY_PREFIX: uniqueName('t').replace(/_/g, '-'),
    ADMIN_TOKENS: [{ name: 'alice', token: ALICE }],
    SALE_SCHEDULE: 'off',
    LOG_LEVEL: 'info',
  })
  const app = await build(config, { ...serverOptions(config), logger: { level: 'info', stream } })
  const redis = testRedisClient()
  t.teardown(async () => {
    await app.close()
    await dropKeys(redis, config.REDIS_KEY_PREFIX)
    await redis.quit()
  })
  await app.ready()
  for (let i = 0; i < 20; i++) await app.inject({ url: '/admin/audit', headers: { authorization: `Bearer wrong-${i}-token-0123456789` } })
  await app.inject({ method: 'POST', url: '/admin/sales', headers: { authorization: `Bearer ${ALICE}` }, payload: { items: 1, stock_per_item: 1 } })

  const logged = lines.map((l) => JSON.parse(l) as { msg: string; refused?: number; audit?: { operator: string; action: string } })
  const refusals = logged.filter((l) => l.msg === 'operator call refused: missing or unknown token')
  t.equal(refusals.length, 1, '20 refusals within the interval: one line')
  t.equal(refusals[0]!.refused, 1, 'counting the refusals since the last line')
  t.match((await app.inject('/metrics')).body, /flashsale_admin_auth_failures_total 20\b/, 'each one counted')
  const actions = logged.filter((l) => l.msg === 'operator action')
  t.same(actions.map((a) => [a.audit?.action, a.audit?.operator]), [['create_sale', 'alice']], 'the action, with its operator')
  t.notMatch(lines.join(''), /wrong-\d+-token|alice-token/, 'no token in any log line')
})
