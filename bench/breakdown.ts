import { request } from 'undici'

/**
 * Where a phase's time went, from the service's own histograms: the mean time of each Redis
 * command, query and lock wait/hold observed between two scrapes of /metrics.
 */
const HISTOGRAMS = [
  'flashsale_redis_command_duration_seconds',
  'flashsale_db_query_duration_seconds',
  'flashsale_lock_wait_seconds',
  'flashsale_lock_hold_seconds',
]

export type Scrape = Map<string, { sum: number; count: number }>

export async function scrape (url: string): Promise<Scrape> {
  const res = await request(`${url}/metrics`)
  const text = await res.body.text()
  const out: Scrape = new Map()
  for (const line of text.split('\n')) {
    const m = /^(\w+)_(sum|count)\{([^}]*)\} (\S+)$/.exec(line)
    if (!m || !HISTOGRAMS.includes(m[1]!)) continue
    const label = /(?:command|query|lock_type)="([^"]+)"/.exec(m[3]!)?.[1] ?? ''
    const key = `${m[1]!.replace(/^flashsale_|_seconds$/g, '').replace('_command_duration', '').replace('_query_duration', '')}:${label}`
    const entry = out.get(key) ?? { sum: 0, count: 0 }
    entry[m[2] as 'sum' | 'count'] += Number(m[4])
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
