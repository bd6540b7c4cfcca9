import t, { type Test } from 'tap'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { buildTestApp } from '../helpers/app.ts'
import { findKeys } from '../helpers/test-redis.ts'

t.test('TRUST_PROXY: off by default; true, false, or the proxies\' addresses and ranges', async (t) => {
  const trust = (value?: string) => loadConfig({ TRUST_PROXY: value }).TRUST_PROXY
  t.equal(trust(), false, 'off by default')
  t.equal(trust('false'), false)
  t.equal(trust('TRUE'), true)
  t.same(trust('127.0.0.1'), ['127.0.0.1'])
  const list = ' 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1, loopback, linklocal,uniquelocal '
  t.same(trust(list), ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', 'loopback', 'linklocal', 'uniquelocal'])
  t.doesNotThrow(() => Fastify({ trustProxy: trust(list) }), 'Fastify takes every form the setting takes')

  for (const [value, why] of [
    ['2', /TRUST_PROXY: a hop count is not taken/],
    ['yes', /TRUST_PROXY: not an address or range: "yes"/],
    ['10.0.0.0/33, 10.0.0.1, 300.1.1.1', /TRUST_PROXY: not an address or range: "10\.0\.0\.0\/33", "300\.1\.1\.1"/],
    ['fd00::/129', /TRUST_PROXY: not an address or range/],
    ['10.0.0.0/8/1', /TRUST_PROXY: not an address or range/],
    [',', /TRUST_PROXY: expected false, true, or comma-separated addresses/],
  ] as const) {
    t.throws(() => trust(value), ConfigError, `${value} is refused`)
    t.throws(() => trust(value), why, `${value}: says why`)
  }
})

/** Checkouts through a real socket from 127.0.0.1, each claiming a client in X-Forwarded-For. */
async function serve (t: Test, trustProxy: false | string[]) {
  const { app, createSale, redis, config } = await buildTestApp(t, {
    TRUST_PROXY: trustProxy, RATE_LIMIT_IP_MAX: 2, RATE_LIMIT_USER_MAX: 0,
  })
  await createSale({ items: 20, stock_per_item: 1, per_user_limit: 100 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  let n = 0
  const checkout = async (forwardedFor: string) => {
    n++
    const res = await fetch(`http://127.0.0.1:${port}/checkout?user_id=u${n}&id=${n}`, {
      method: 'POST', headers: { 'x-forwarded-for': forwardedFor },
    })
    await res.arrayBuffer()
    return res.status
  }
  /** The addresses the checkout script has counted. */
  const counted = async () =>
    (await findKeys(redis, `${config.REDIS_KEY_PREFIX}:*ratelimit:ip:*`)).map((k) => k.slice(k.indexOf(':ip:') + 4)).sort()
  return { checkout, counted }
}

t.test('TRUST_PROXY off: X-Forwarded-For is ignored, the socket\'s address is the client', async (t) => {
  const { checkout, counted } = await serve(t, false)
  const answers = [await checkout('203.0.113.1'), await checkout('203.0.113.2'), await checkout('203.0.113.3')]
  t.same(answers, [200, 200, 429], 'three clients claimed, one counted')
  t.same(await counted(), ['127.0.0.1'], 'counted under the socket\'s address')
})

t.test('TRUST_PROXY for 127.0.0.1: the checkout rate limit counts the forwarded client', async (t) => {
  const { checkout, counted } = await serve(t, ['127.0.0.1'])
  t.same([await checkout('203.0.113.1'), await checkout('203.0.113.1')], [200, 200])
  t.equal(await checkout('203.0.113.1'), 429, 'the third from one client is limited')
  t.equal(await checkout('203.0.113.2'), 200, 'another client behind the same proxy is not')
  // The proxy appends the address it saw: what the client wrote before it is not believed.
  t.equal(await checkout('198.51.100.9, 203.0.113.1'), 429, 'a client cannot step out of its limit')
  t.same(await counted(), ['203.0.113.1', '203.0.113.2'], 'counted under the clients\' addresses, never the proxy\'s')
})
