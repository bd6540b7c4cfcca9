import t from 'tap'
import { createSale, metricTypes, parseMetrics, readMetrics, type Send } from '../kit/operator-client.ts'

/** A transport that answers every request with `status` and `body`, and keeps what it was sent. */
function answering (status: number, body: unknown) {
  const sent: Parameters<Send>[] = []
  const send: Send = async (...request) => {
    sent.push(request)
    return { status, body }
  }
  return { send, sent }
}

t.test('parseMetrics reads the text exposition as Prometheus writes and reads it', async (t) => {
  const text = [
    '# HELP flashsale_lock_wait_seconds Time to acquire a lock.',
    '# TYPE flashsale_lock_wait_seconds histogram',
    'flashsale_lock_wait_seconds_bucket{le="+Inf",lock_type="purchase"} 3',
    'flashsale_lock_wait_seconds_sum{lock_type="purchase"} 0.25',
    'up 1 1700000000000',
    'odd{path="a \\"quoted\\" \\\\ back\\nslash",empty=""} -Inf',
    '',
  ].join('\n')
  t.same(parseMetrics(text), [
    { name: 'flashsale_lock_wait_seconds_bucket', labels: { le: '+Inf', lock_type: 'purchase' }, value: 3 },
    { name: 'flashsale_lock_wait_seconds_sum', labels: { lock_type: 'purchase' }, value: 0.25 },
    { name: 'up', labels: {}, value: 1 },
    { name: 'odd', labels: { path: 'a "quoted" \\ back\nslash', empty: '' }, value: -Infinity },
  ], 'comments skipped, label values unescaped, timestamps and infinities read')
  t.same([...metricTypes(text)], [['flashsale_lock_wait_seconds', 'histogram']])
  t.throws(() => parseMetrics('flashsale_broken{result="x" 1'), /unreadable exposition line: flashsale_broken/,
    'a line Prometheus would refuse fails, rather than being skipped')
})

t.test('readMetrics sends its headers and refuses anything but 200', async (t) => {
  const ok = answering(200, 'a_total 2\n')
  t.same(await readMetrics(ok.send, { authorization: 'Bearer x' }), [{ name: 'a_total', labels: {}, value: 2 }])
  t.same(ok.sent, [['GET', '/metrics', { headers: { authorization: 'Bearer x' } }]])
  await t.rejects(readMetrics(answering(401, { error: 'unauthorized' }).send), /\/metrics answered 401/)
})

t.test('createSale posts the sale with the token and returns its id; a refusal throws with the answer', async (t) => {
  const created = answering(201, { sale_id: 7 })
  t.equal(await createSale(created.send, 'token-0123456789abcdef', { items: 1, stock_per_item: 2 }), 7)
  t.same(created.sent, [['POST', '/admin/sales', {
    headers: { authorization: 'Bearer token-0123456789abcdef', 'content-type': 'application/json' },
    body: '{"items":1,"stock_per_item":2}',
  }]])
  await t.rejects(createSale(answering(401, { error: 'unauthorized' }).send, 'wrong', {}),
    /creating a sale failed: 401 \{"error":"unauthorized"\}/)
})
