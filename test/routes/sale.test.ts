import t from 'tap'
import { buildTestApp } from '../helpers/app.ts'

t.test('GET /sale and /sale/items without a sale', async (t) => {
  const { app } = await buildTestApp(t)
  for (const url of ['/sale', '/sale/items']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 404, url)
    t.equal(res.json().error, 'sale_not_active', url)
  }
})

t.test('GET /sale reports progress and /sale/items pages the items', async (t) => {
  const { app, createSale } = await buildTestApp(t)
  const saleId = await createSale({ items: 5, stock_per_item: 3, per_user_limit: 7 })
  await app.inject({ method: 'POST', url: '/checkout?user_id=u1&id=2' })
  await app.inject({ method: 'POST', url: '/checkout?user_id=u2&id=2' })

  const sale = (await app.inject({ method: 'GET', url: '/sale' })).json()
  t.match(sale, { sale_id: saleId, per_user_limit: 7, units_total: 15, units_sold: 0, units_reserved: 2, units_available: 13 })
  t.ok(Date.parse(sale.ends_at) > Date.parse(sale.starts_at))

  const page = (await app.inject({ method: 'GET', url: '/sale/items?offset=1&limit=2' })).json()
  t.equal(page.total, 5)
  t.same(page.items.map((i: { id: number; available: number; stock: number }) => [i.id, i.stock, i.available]), [[2, 3, 1], [3, 3, 3]])
  t.match(page.items[0], { name: String, image_url: /^https:\/\// })

  const tail = (await app.inject({ method: 'GET', url: '/sale/items?offset=4&limit=1000' })).json()
  t.same(tail.items.map((i: { id: number }) => i.id), [5])
  const past = (await app.inject({ method: 'GET', url: '/sale/items?offset=10' })).json()
  t.same(past, { total: 5, items: [] })

  for (const q of ['limit=1001', 'limit=0', 'offset=-1', 'offset=x']) {
    const res = await app.inject({ method: 'GET', url: `/sale/items?${q}` })
    t.equal(res.statusCode, 400, q)
    t.equal(res.json().error, 'invalid_request', q)
  }
})
