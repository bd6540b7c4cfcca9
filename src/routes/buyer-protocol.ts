import type client from '@platformatic/prom-client'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ValuesSent } from '../sale/attempt-log.ts'
import type { Waiting } from '../sale/meters.ts'

/** The status a request whose client left before its answer is counted under, as nginx logs it. */
export const CLIENT_CLOSED_REQUEST = 499

/**
 * How the buyer routes talk to clients written for every flavour of the checkout-then-purchase
 * API. Their input is the query string alone: any body and any content type (a JSON type with
 * no body, a form type, an empty value, a chunked nothing) is ignored, so no parse failure
 * happens before the handler, and every checkout attempt is recorded. Registered inside the
 * routes' own plugin, so the rest of the app parses bodies as usual.
 */
export function queryOnly (fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers()
  // The body is read and thrown away as it arrives, never buffered.
  fastify.addContentTypeParser('*', (_request, payload, done) => {
    payload.resume()
    done(null)
  })
  // A content type Fastify cannot even parse (an empty value) would be refused with 415 before
  // any parser runs: without it, the body goes to the catch-all above.
  fastify.addHook('onRequest', async (request, reply) => {
    if (request.headers['content-type'] !== undefined) delete request.headers['content-type']
    // The client may have left while an earlier hook waited (the rate limiter on a slow Redis).
    if (reply.raw.destroyed) departed(fastify, request, reply)
    else reply.raw.once('close', () => { if (!reply.raw.writableEnded) departed(fastify, request, reply) })
  })
}

/**
 * A request whose client closed the connection before its answer is never answered, so the route
 * histogram (observed when a response finishes) would not see it: it is observed here, as 499.
 */
function departed (fastify: FastifyInstance, request: FastifyRequest, reply: FastifyReply): void {
  const histogram = fastify.meters.registry.getSingleMetric('http_request_duration_seconds') as client.Histogram<string> | undefined
  const labels = { method: request.method, route: request.routeOptions.url ?? '', status_code: CLIENT_CLOSED_REQUEST }
  histogram?.observe(labels, reply.elapsedTime / 1000)
}

/**
 * True when the client asked for text and not for JSON (`Accept: text/plain`): then checkout
 * answers the bare code and purchase an empty 200. Errors stay JSON envelopes.
 */
export function wantsText (request: FastifyRequest): boolean {
  const accept = request.headers.accept
  return accept !== undefined && accept.includes('text/plain') && !accept.includes('application/json')
}

/**
 * Buyer routes answer within REQUEST_DEADLINE_MS (Fastify's `handlerTimeout`, hooks included):
 * a hung Redis or Postgres is answered 503 like a dead one. This says whether the buyer still
 * waits for the answer: not answered at the deadline, not gone; and, when not, whether they left.
 */
export function waitingFor (reply: FastifyReply): Waiting {
  return Object.assign(() => !reply.sent && !reply.raw.destroyed, { left: () => !reply.sent && reply.raw.destroyed })
}

/**
 * The work's outcome, or undefined once the deadline has answered 503 or the client has gone: what
 * the work does after that (succeed or fail) is nobody's answer, and is not logged as one.
 */
export async function unlessAnswered<T> (reply: FastifyReply, work: Promise<T>): Promise<T | undefined> {
  const gone = () => reply.sent || reply.raw.destroyed
  try {
    const outcome = await work
    return gone() ? undefined : outcome
  } catch (err) {
    if (gone()) return undefined
    throw err
  }
}

/**
 * What a checkout refused before it could be decided is stored with: the user id as sent, an item
 * id when there is one, and the item and user values exactly as sent (a value given twice is
 * both, comma-separated; `id` and `item_id` naming different items are `id=…&item_id=…`).
 */
export function attemptOf (query: unknown): { user: string | null; item: number | null; sent: ValuesSent } {
  const q = (query ?? {}) as Record<string, unknown>
  const user = typeof q.user_id === 'string' ? q.user_id : null
  const item = Number(q.id ?? q.item_id)
  const [id, alias] = [sentValue(q.id), sentValue(q.item_id)]
  const itemSent = id !== null && alias !== null && id !== alias ? `id=${id}&item_id=${alias}` : id ?? alias
  return { user, item: Number.isSafeInteger(item) && item > 0 ? item : null, sent: { item: itemSent, user: sentValue(q.user_id) } }
}

function sentValue (value: unknown): string | null {
  if (value === undefined || value === null) return null
  return Array.isArray(value) ? value.map(String).join(',') : String(value)
}
