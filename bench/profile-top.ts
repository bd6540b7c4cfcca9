import { readFileSync } from 'node:fs'

/**
 * Summarises a V8 .cpuprofile (from `BENCH_CPU_PROF=1 npm run bench`): self time by function
 * and by where the code lives (our src/, each package in node_modules, Node internals).
 *   node bench/profile-top.ts bench/results/profiles/CPU.*.cpuprofile
 */
interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}
interface Profile {
  nodes: Node[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

function where (url: string): string {
  if (url === '') return '(native/vm)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg) return pkg[1]!
  if (url.startsWith('node:')) return 'node internals'
  const own = /\/(src|bench|lua)\/(.+)$/.exec(url)
  return own ? `${own[1]}/${own[2]}` : url
}

function top (map: Map<string, number>, total: number, n: number): string[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
}

for (const file of process.argv.slice(2)) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)))
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const byFunction = new Map<string, number>()
  const byPlace = new Map<string, number>()
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    const fn = `${functionName || '(anonymous)'} ${where(url)}${url ? `:${lineNumber + 1}` : ''}`
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us)
    byPlace.set(where(url), (byPlace.get(where(url)) ?? 0) + us)
  }
  console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`)
  console.log('by place:\n  ' + top(byPlace, total, 20).join('\n  '))
  console.log('by function:\n  ' + top(byFunction, total, 30).join('\n  '))
}
