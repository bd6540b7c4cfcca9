/**
 * An SVG chart of one benchmark run: throughput of each measured route against the two floors
 * (a bare Fastify route, and the same route plus one Lua call), and each one's p99 latency.
 */
export interface Bar {
  label: string
  rps: number
  p99Ms: number
  /** A floor the others are read against. */
  floor?: boolean
}

const escape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)

export function chart (title: string, bars: readonly Bar[], notes: readonly string[]): string {
  const width = 760
  const rowHeight = 34
  const top = 56
  const left = 190
  const plot = 380
  const maxRps = Math.max(...bars.map((b) => b.rps), 1)
  const maxP99 = Math.max(...bars.map((b) => b.p99Ms), 1)
  const height = top + bars.length * rowHeight + 30 + notes.length * 18
  const rows = bars.map((b, i) => {
    const y = top + i * rowHeight
    const w = Math.max(1, Math.round((b.rps / maxRps) * plot))
    const p = Math.max(1, Math.round((b.p99Ms / maxP99) * 110))
    return [
      `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escape(b.label)}</text>`,
      `<rect x="${left}" y="${y + 3}" width="${w}" height="16" fill="${b.floor ? '#9aa5b1' : '#2f6fdb'}"/>`,
      `<text x="${left + w + 6}" y="${y + 15}">${b.rps.toLocaleString('en')} req/s</text>`,
      `<rect x="${width - 130}" y="${y + 3}" width="${p}" height="16" fill="#e07b39"/>`,
      `<text x="${width - 130 + p + 4}" y="${y + 15}">${b.p99Ms} ms</text>`,
    ].join('')
  })
  const footer = notes.map((n, i) => `<text x="16" y="${top + bars.length * rowHeight + 24 + i * 18}" fill="#444">${escape(n)}</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">` +
    '<rect width="100%" height="100%" fill="#fff"/>' +
    `<text x="16" y="24" font-size="15" font-weight="bold">${escape(title)}</text>` +
    `<text x="${left}" y="46" fill="#2f6fdb">throughput (grey: the floors)</text>` +
    `<text x="${width - 130}" y="46" fill="#e07b39">p99</text>` +
    rows.join('') + footer.join('') + '</svg>\n'
}
