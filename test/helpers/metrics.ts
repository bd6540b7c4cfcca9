import type { Sample } from '../../kit/operator-client.ts'

/** Sum of the samples of `name` whose labels include `match`; undefined when there is none. */
export function series (samples: Sample[], name: string, match: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
  return found.length === 0 ? undefined : found.reduce((n, s) => n + s.value, 0)
}

/** Like series, with 0 for a series not there (yet): for counters compared before and after. */
export function total (samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return series(samples, name, match) ?? 0
}
