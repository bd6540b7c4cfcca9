import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

/** A span as an OTLP/HTTP JSON export carries it, its attributes flattened. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  service: string
  attributes: Record<string, string | number | boolean>
  events: string[]
  links: { traceId: string, spanId: string }[]
}

interface AnyValue { stringValue?: string, intValue?: string | number, doubleValue?: number, boolValue?: boolean }
interface KeyValue { key: string, value: AnyValue }

const valueOf = (v: AnyValue) => v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.doubleValue ?? v.boolValue ?? ''
const flatten = (list: KeyValue[] = []) => Object.fromEntries(list.map((kv) => [kv.key, valueOf(kv.value)]))

/**
 * An OTLP/HTTP trace receiver (what a collector, Jaeger or Tempo listens with), decoding the
 * JSON the exporter sends by default. It keeps every span it was sent, and how many exports.
 */
export async function startOtlpReceiver () {
  const spans: ReceivedSpan[] = []
  const paths: string[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      paths.push(`${req.method} ${req.url} ${req.headers['content-type']}`)
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      for (const rs of body.resourceSpans ?? []) {
        const service = String(flatten(rs.resource?.attributes)['service.name'])
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              name: s.name,
              kind: s.kind,
              service,
              attributes: flatten(s.attributes),
              events: (s.events ?? []).map((e: { name: string }) => e.name),
              links: (s.links ?? []).map((l: { traceId: string, spanId: string }) => ({ traceId: l.traceId, spanId: l.spanId })),
            })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    /** Method, path and content type of each export received. */
    paths,
    async close () {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

/** A W3C traceparent of a sampled (or not) remote parent, with random ids. */
export function traceparent (sampled = true): { header: string, traceId: string, parentId: string } {
  const hex = (bytes: number) => Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join('')
  const traceId = hex(16)
  const parentId = hex(8)
  return { header: `00-${traceId}-${parentId}-${sampled ? '01' : '00'}`, traceId, parentId }
}
