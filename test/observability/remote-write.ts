/**
 * Prometheus remote write as k6's experimental-prometheus-rw output speaks it: a WriteRequest
 * (protobuf) compressed with snappy, POSTed to /api/v1/write. Written out here (a few lines of
 * wire format) so tests can feed a real Prometheus the series a k6 run would, without k6.
 */

export interface Series {
  labels: Record<string, string>
  value: number
  /** Milliseconds since the epoch. */
  timestamp: number
}

function varint (n: number): number[] {
  const out: number[] = []
  while (n > 127) {
    out.push((n % 128) | 128)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return out
}

/** A length-delimited field: tag, length, bytes. */
const field = (num: number, bytes: Uint8Array | number[]) => [(num << 3) | 2, ...varint(bytes.length), ...bytes]
const text = (s: string) => [...Buffer.from(s, 'utf8')]

function timeSeries ({ labels, value, timestamp }: Series): number[] {
  // Remote write wants the labels sorted by name, __name__ among them.
  const sorted = Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const double = Buffer.alloc(8)
  double.writeDoubleLE(value)
  const sample = [0x09, ...double, 0x10, ...varint(timestamp)]
  return [...sorted.flatMap(([k, v]) => field(1, [...field(1, text(k)), ...field(2, text(v))])), ...field(2, sample)]
}

/** Snappy's block format with literals only: valid input for any decoder, merely not smaller. */
function snappyLiteral (data: Uint8Array): Buffer {
  const out: number[] = varint(data.length)
  for (let i = 0; i < data.length; i += 65536) {
    const chunk = data.subarray(i, i + 65536)
    const n = chunk.length - 1
    // Tag 61 << 2: a literal whose length - 1 follows in two little-endian bytes.
    out.push(61 << 2, n & 0xff, n >> 8, ...chunk)
  }
  return Buffer.from(out)
}

/** Sends `series` to a Prometheus started with --web.enable-remote-write-receiver. */
export async function remoteWrite (prometheusUrl: string, series: Series[]): Promise<void> {
  const body = Uint8Array.from(series.flatMap((s) => field(1, timeSeries(s))))
  const res = await fetch(`${prometheusUrl}/api/v1/write`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-protobuf',
      'content-encoding': 'snappy',
      'x-prometheus-remote-write-version': '0.1.0',
    },
    body: snappyLiteral(body),
  })
  if (!res.ok) throw new Error(`remote write answered ${res.status}: ${await res.text()}`)
}

/**
 * Writes, every `everyMs`, the series a k6 0.48 run tagged `--tag testid=<testid>` writes with
 * K6_PROMETHEUS_RW_TREND_STATS=p(95),p(99): k6_ prefix, counters as _total, rates as _rate,
 * trend stats as _p95/_p99 in seconds, and the request's tags as labels (no job, no instance).
 * Returns a function that stops it.
 */
export function fakeK6Run (prometheusUrl: string, testid: string, everyMs = 500): () => Promise<void> {
  const scenario = 'connection_burst'
  const requests = [
    { endpoint: 'checkout', status: '200', expected: 'true', perTick: 40, p95: 0.012, p99: 0.03 },
    { endpoint: 'checkout', status: '409', expected: 'true', perTick: 5, p95: 0.008, p99: 0.02 },
    { endpoint: 'checkout', status: '503', expected: 'false', perTick: 1, p95: 0.002, p99: 0.004 },
    { endpoint: 'purchase', status: '200', expected: 'true', perTick: 20, p95: 0.04, p99: 0.09 },
  ]
  let tick = 0
  let failure: Error | undefined
  const write = () => {
    tick++
    const timestamp = Date.now()
    const series: Series[] = [
      { labels: { __name__: 'k6_vus', testid }, value: 50, timestamp },
      { labels: { __name__: 'k6_vus_max', testid }, value: 200, timestamp },
      { labels: { __name__: 'k6_iterations_total', scenario, testid }, value: 66 * tick, timestamp },
    ]
    for (const r of requests) {
      const name = `POST /${r.endpoint}`
      const tags = { endpoint: r.endpoint, expected_response: r.expected, method: 'POST', name, proto: 'HTTP/1.1', scenario, status: r.status, testid, url: name }
      const metric = (suffix: string, value: number): Series => ({ labels: Object.assign({ __name__: `k6_${suffix}` }, tags), value, timestamp })
      series.push(metric('http_reqs_total', r.perTick * tick), metric('http_req_duration_p95', r.p95), metric('http_req_duration_p99', r.p99),
        metric('http_req_failed_rate', r.expected === 'true' ? 0 : 1))
    }
    remoteWrite(prometheusUrl, series).catch((err: Error) => { failure = err })
  }
  write()
  const timer = setInterval(write, everyMs)
  return async () => {
    clearInterval(timer)
    if (failure) throw failure
  }
}
