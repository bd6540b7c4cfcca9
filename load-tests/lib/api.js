// The service's HTTP API as the scenarios call it. Every request carries an `endpoint` tag
// (thresholds are set per endpoint) and a fixed `name`, so query strings never become series.
import http from 'k6/http'
import { ADMIN_TOKEN, BASE_URL } from './config.js'

// Answers that are outcomes of a sale, not failures: they do not count in http_req_failed.
const CHECKOUT_OK = http.expectedStatuses(200, 409, 429)
const PURCHASE_OK = http.expectedStatuses(200, 409, 410)
const SALE_OK = http.expectedStatuses(200)

function tagged (endpoint, name, responseCallback, extra) {
  return { tags: Object.assign({ endpoint, name }, extra), responseCallback }
}

export function checkout (userId, itemId, tags) {
  const url = `${BASE_URL}/checkout?user_id=${encodeURIComponent(userId)}&id=${itemId}`
  return http.post(url, null, tagged('checkout', 'POST /checkout', CHECKOUT_OK, tags))
}

export function purchase (code, tags) {
  const url = `${BASE_URL}/purchase?code=${encodeURIComponent(code)}`
  return http.post(url, null, tagged('purchase', 'POST /purchase', PURCHASE_OK, tags))
}

/** The same purchase sent `n` times at once, on parallel connections. */
export function purchaseConcurrently (code, n) {
  const url = `${BASE_URL}/purchase?code=${encodeURIComponent(code)}`
  const params = tagged('purchase', 'POST /purchase', PURCHASE_OK, { burst: 'double_submit' })
  return http.batch(Array.from({ length: n }, () => ['POST', url, null, params]))
}

export function getSale () {
  return http.get(`${BASE_URL}/sale`, tagged('sale', 'GET /sale', SALE_OK))
}

export function getItems (offset, limit) {
  return http.get(`${BASE_URL}/sale/items?offset=${offset}&limit=${limit}`, tagged('items', 'GET /sale/items', SALE_OK))
}

export function getHealth () {
  return http.get(`${BASE_URL}/health`, tagged('health', 'GET /health', http.expectedStatuses(200)))
}

/** Creates a sale that starts now through the operator API; it becomes the current sale. */
export function createSale (body) {
  if (!ADMIN_TOKEN) throw new Error('ADMIN_TOKEN is not set: the scenario creates its own sale through the operator API')
  const res = http.post(`${BASE_URL}/admin/sales`, JSON.stringify(body), {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
    tags: { endpoint: 'admin', name: 'POST /admin/sales' },
  })
  if (res.status !== 201) throw new Error(`creating the sale failed: ${res.status} ${res.body}`)
  return res.json()
}

/** The error code of a JSON error answer, or '' when there is none. */
export function errorCode (res) {
  try {
    return res.json('error') || ''
  } catch (_) {
    return ''
  }
}

/** setup()'s usual work: a sale of the scenario's own, and what the iterations need to know. */
export function startOwnSale (body, runId) {
  const sale = createSale(body)
  return { saleId: sale.sale_id, total: sale.units_total, runId }
}
