import t from 'tap'
import { checkout, luaFixture } from '../helpers/lua.ts'

t.test('checkout-cancel.lua releases a reservation only while it is reserved', async (t) => {
  const f = await luaFixture(t)
  await f.load({ items: 2, stock: 1, limit: 2 })
  t.equal(await f.scripts.checkoutCancel(f.keys, 'none'), 0, 'a checkout Redis never ran: nothing to release')
  await checkout(f, 1, 'u', 'c1')
  t.equal(await f.scripts.checkoutCancel(f.keys, 'c1'), 1, 'released')
  t.same((await f.reservation('c1'))?.[0], 'X')
  t.equal(await f.redis.hget(f.keys.stock, '1'), '1', 'the unit is back')
  t.equal(await f.redis.hget(f.keys.users, 'u'), '0', 'the user holds nothing')
  t.match(await f.meta(), { reserved: 0, cancelled: 1, expired: 0 })
  t.equal(await f.redis.zscore(f.keys.due, 'c1'), null, 'nothing left to sweep')
  t.equal(await f.scripts.checkoutCancel(f.keys, 'c1'), 0, 'once')

  await checkout(f, 2, 'u', 'c2')
  await f.scripts.purchaseBegin(f.keys, 'c2', 60_000)
  t.equal(await f.scripts.checkoutCancel(f.keys, 'c2'), 0, 'a reservation being bought is not released')
})

t.test('the scripts share the prelude rather than copy it', async (t) => {
  const { readdirSync, readFileSync } = await import('node:fs')
  const dir = new URL('../../lua/', import.meta.url)
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.lua') && f !== 'prelude.lua')) {
    const body = readFileSync(new URL(file, dir), 'utf8')
    t.notMatch(body, /redis\.call\('TIME'\)/, `${file}: the clock is now_ms()`)
    t.notMatch(body, /string\.match\(v/, `${file}: a reservation is read with parse()`)
    t.notMatch(body, /HINCRBY', KEYS\[\d\], item, 1\)/, `${file}: a unit goes back to stock through release()`)
  }
})
