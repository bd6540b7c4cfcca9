import { readMetrics, type Send } from '../kit/operator-client.ts'

/**
 * Where a phase's time went, from the service's own histograms: the mean time of each Redis
 * command, query and lock wait/hold observed between two scrapes of /metrics.
 */
const HISTOGRAMS: Record<string, { short: string; label: string }> = {
  flashsale_redis_command_duration_seconds: { short: 'redis', label: 'command' },
  flashsale_db_query_duration_seconds: { short: 'db', label: 'query' },
  flashsale_lock_wait_seconds: { short: 'lock_wait', label: 'lock_type' },
  flashsale_lock_hold_seconds: { short: 'lock_hold', label: 'lock_type' },
}

export type Scrape = Map<string, { sum: number; count: number }>

export async function scrape (send: Send): Promise<Scrape> {
  const out: Scrape = new Map()
  for (const sample of await readMetrics(send)) {
    const [, name, part] = /^(\w+)_(sum|count)$/.exec(sample.name) ?? []
    const histogram = HISTOGRAMS[name ?? '']
    if (!histogram) continue
    const key = `${histogram.short}:${sample.labels[histogram.label] ?? ''}`
    const entry = out.get(key) ?? { sum: 0, count: 0 }
    entry[part as 'sum' | 'count'] += sample.value
    out.set(key, entry)
  }
  return out
}

/** Mean milliseconds and count of each series that moved between the two scrapes. */
export function between (before: Scrape, after: Scrape): Record<string, { mean_ms: number; n: number }> {
  const out: Record<string, { mean_ms: number; n: number }> = {}
  for (const [key, a] of after) {
    const b = before.get(key) ?? { sum: 0, count: 0 }
    const n = a.count - b.count
    if (n > 0) out[key] = { mean_ms: Math.round(((a.sum - b.sum) / n) * 1e5) / 100, n }
  }
  return out
}
