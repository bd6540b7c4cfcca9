// A stand-in for k6/http that answers the way the service does, so the inspector can run a
// scenario's setup(), one iteration and teardown() without sending anything anywhere. It
// records where each request would have gone and how many requests each http.batch() sent at once.

function response (status, body) {
  const text = JSON.stringify(body)
  return {
    status,
    body: text,
    headers: { 'Content-Type': 'application/json' },
    // k6 takes a gjson path; the scenarios only use dotted names.
    json: (selector) => (selector === undefined ? JSON.parse(text) : selector.split('.').reduce((v, k) => v?.[k], body)),
  }
}

/** A fresh fake service and its k6/http module; `calls` fills in as the scenario runs. */
export function fakeHttp () {
  const calls = { urls: [], batches: [] }
  let sale = null
  let codes = 0
  const purchases = new Map()

  const routes = {
    'POST /admin/sales': (_q, body) => {
      const b = JSON.parse(body)
      const total = b.items * b.stock_per_item
      sale = { sale_id: 1, units_total: total, units_sold: 0, units_reserved: 0, units_available: total }
      return response(201, Object.assign({}, sale, { per_user_limit: b.per_user_limit ?? 10 }))
    },
    'GET /sale': () => (sale ? response(200, sale) : response(404, { error: 'sale_not_active', message: 'no sale' })),
    'GET /sale/items': (q) => {
      const limit = Number(q.get('limit'))
      const items = Array.from({ length: limit }, (_, i) => ({ id: Number(q.get('offset')) + i + 1, stock: 1, available: 1 }))
      return response(200, { total: sale?.units_total ?? 0, items })
    },
    'POST /checkout': (q) => response(200, { code: `c${++codes}`, item_id: Number(q.get('id')), sale_id: 1, expires_at: '' }),
    'POST /purchase': (q) => {
      const code = q.get('code')
      if (!purchases.has(code)) purchases.set(code, purchases.size + 1)
      return response(200, { status: 'purchased', purchase_id: purchases.get(code), sale_id: 1 })
    },
    'GET /health': () => response(200, { status: 'ok', memory: { rss_bytes: 64 * 1048576 } }),
  }

  function request (method, url, body) {
    calls.urls.push(url)
    const u = new URL(url)
    const route = routes[`${method.toUpperCase()} ${u.pathname}`]
    return route ? route(u.searchParams, body) : response(404, { error: 'not_found', message: url })
  }

  function batch (requests) {
    const list = Array.isArray(requests) ? requests : Object.values(requests)
    calls.batches.push(list.length)
    return list.map((r) => {
      if (typeof r === 'string') return request('GET', r, null)
      if (Array.isArray(r)) return request(r[0], r[1], r[2])
      return request(r.method, r.url, r.body)
    })
  }

  const http = {
    request,
    get: (url) => request('GET', url, null),
    head: (url) => request('HEAD', url, null),
    options: (url, body) => request('OPTIONS', url, body),
    post: (url, body) => request('POST', url, body),
    put: (url, body) => request('PUT', url, body),
    patch: (url, body) => request('PATCH', url, body),
    del: (url, body) => request('DELETE', url, body),
    batch,
    expectedStatuses: (...statuses) => ({ expected: statuses }),
    setResponseCallback: () => undefined,
  }
  return { http, calls }
}
