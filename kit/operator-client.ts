/**
 * The operator API from the outside: creating a sale, reading /metrics. The service does not use
 * it; the tests (in process and over HTTP) and the benchmark do, each over a transport of its own.
 */

/** An answer of the service: the body parsed when it is JSON, else its text. */
export interface Answer {
  status: number
  body: unknown
}

export type Send = (
  method: 'GET' | 'POST',
  path: string,
  options?: { headers?: Record<string, string>; body?: string }
) => Promise<Answer>

/** Parses a body as JSON when it is JSON, else keeps the text (/metrics, a plain-text refusal). */
export function answerBody (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** Creates a sale through `POST /admin/sales` and returns its id; anything but 201 throws. */
export async function createSale (send: Send, adminToken: string, sale: Record<string, unknown>): Promise<number> {
  const res = await send('POST', '/admin/sales', {
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(sale),
  })
  if (res.status !== 201) throw new Error(`creating a sale failed: ${res.status} ${JSON.stringify(res.body)}`)
  return (res.body as { sale_id: number }).sale_id
}

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g

/**
 * The samples of a Prometheus text exposition; comments and blank lines are skipped. A line it
 * cannot read throws: an exposition Prometheus would refuse is a bug, not something to skip.
 */
export function parseMetrics (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    if (!m) throw new Error(`unreadable exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, name, value] of (m[2] ?? '').matchAll(LABEL)) {
      labels[name!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    }
    samples.push({ name: m[1]!, labels, value: sampleValue(m[3]!) })
  }
  return samples
}

/** The type each metric is declared with (`# TYPE name type`), by name. */
export function metricTypes (text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name!, type!]))
}

/** The exposition writes infinities as +Inf and -Inf, which Number() does not read. */
function sampleValue (text: string): number {
  if (text === '+Inf') return Infinity
  if (text === '-Inf') return -Infinity
  return Number(text)
}

/** Reads `GET /metrics` and parses it; anything but 200 throws. */
export async function readMetrics (send: Send, headers: Record<string, string> = {}): Promise<Sample[]> {
  const res = await send('GET', '/metrics', { headers })
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return parseMetrics(String(res.body))
}
