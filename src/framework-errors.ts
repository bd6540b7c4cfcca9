import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ERRORS, type ErrorCode } from './errors.ts'
import { sendError } from './schemas/common.ts'
import { attemptOf } from './routes/buyer-protocol.ts'

/**
 * The framework's own refusals, in the same envelope and with the same stable codes as every
 * other answer: a body that is not JSON, of another type or too large, a URL that does not
 * decode, a request that is not even HTTP.
 */
const BY_FASTIFY_CODE: Record<string, { code: ErrorCode; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_request', message: 'Content-Length does not match the body.' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_request', message: 'The body is empty; send a JSON object.' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_request', message: 'The body is not valid JSON.' },
  FST_ERR_CTP_INSTANCE_ALREADY_STARTED: { code: 'invalid_request' },
  FST_ERR_BAD_URL: { code: 'invalid_request', message: 'The URL is malformed: a percent sign must start a %XX escape.' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'invalid_request', message: 'The URL is too long.' },
}

/** The code and message for a 4xx the framework raised (body parsing, URL decoding). */
export function frameworkError (err: FastifyError): { code: ErrorCode; message?: string } {
  return BY_FASTIFY_CODE[err.code] ?? { code: 'invalid_request' }
}

/** Server option `frameworkErrors`: errors raised before routing (a URL that does not decode). */
export function frameworkErrors (err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const { code, message } = frameworkError(err)
  void sendError(reply, code, { message })
}

/**
 * Server option `clientErrorHandler`: what Node's HTTP parser refuses never reaches Fastify,
 * so it is answered here, still in the envelope. A checkout among them is still an attempt,
 * recorded as invalid when the app is up.
 */
export function clientErrorHandler (this: FastifyInstance, err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const code: ErrorCode = err.code === 'HPE_HEADER_OVERFLOW'
    ? 'headers_too_large'
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : 'invalid_request'
  const message = code === 'invalid_request'
    ? 'The request is not valid HTTP/1.1 (a URL may hold ASCII only: percent-encode other bytes).'
    : ERRORS[code].message
  const body = JSON.stringify({ error: code, message })
  const status = ERRORS[code].status
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  } else {
    socket.destroy()
  }
  const checkout = Buffer.isBuffer(err.rawPacket) && code !== 'request_timeout' ? refusedCheckout(err.rawPacket) : undefined
  if (checkout && this.hasDecorator('sale')) this.sale.reservations.invalid(checkout.user, checkout.item, checkout.sent)
}

/** The user and item of a `POST /checkout` request line, read leniently from raw bytes. */
function refusedCheckout (raw: Buffer): ReturnType<typeof attemptOf> | undefined {
  const line = raw.subarray(0, raw.indexOf('\r\n') >>> 0).toString('latin1')
  const target = /^POST (\/checkout(?:\?(\S*))?) HTTP\//.exec(line)
  if (!target) return undefined
  const query = new URLSearchParams(target[2] ?? '')
  const values = (name: string) => {
    const all = query.getAll(name)
    return all.length === 0 ? undefined : all.length === 1 ? all[0] : all
  }
  return attemptOf({ user_id: values('user_id'), id: values('id'), item_id: values('item_id') })
}
