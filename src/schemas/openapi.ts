import { Type } from '@sinclair/typebox'
import { formatParamUrl, type SwaggerTransform, type SwaggerTransformObject } from '@fastify/swagger'
import type { FastifySchema } from 'fastify'
import pkg from '../../package.json' with { type: 'json' }
import { ERRORS, retriable, type ErrorCode } from '../errors.ts'
import { ERROR_CODES, ErrorBody, errorResponse } from './common.ts'

type Json = Record<string, unknown>

/** What a request can be answered before any route sees it, whatever its path. */
const ANY_REQUEST: ErrorCode[] = ['invalid_request', 'not_found', 'request_timeout', 'headers_too_large']

const DESCRIPTION = `Buyers reserve a unit (\`POST /checkout\`) and buy it (\`POST /purchase\`); operators create
sales and watch the service.

Every error is JSON \`{"error": "<code>", "message": "<text>"}\` with a stable code; each operation
lists the codes it answers under each status. 429, 503 and 409 \`purchase_in_progress\` carry \`Retry-After\`
(seconds). A known path called with another method answers 405 \`method_not_allowed\` with \`Allow\`.

Whatever its path, a request may also be answered, before any route sees it:

| status | code | meaning |
| --- | --- | --- |
${ANY_REQUEST.map((c) => `| ${ERRORS[c].status} | \`${c}\` | ${ERRORS[c].message} |`).join('\n')}
`

const TAGS = [
  {
    name: 'buyer',
    description: 'The sale as buyers see it. Input is the query string alone: a body is ignored. Requests are ' +
      'limited per client address (`RATE_LIMIT_IP_MAX`), and checkouts per `user_id` too (`RATE_LIMIT_USER_MAX`).',
  },
  {
    name: 'operator',
    description: 'The life of a sale: create, list, inspect, end, cancel, export its purchases, and the audit of ' +
      'every action. `Authorization: Bearer <token>`: `ADMIN_TOKEN`, or a named one of `ADMIN_TOKENS`. JSON bodies only.',
  },
  { name: 'health', description: 'Probes for load balancers and orchestrators: never rate limited or shed.' },
  { name: 'metrics', description: 'Prometheus scraping: never rate limited or shed.' },
]

const SECURITY_SCHEMES = {
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'An operator token: `ADMIN_TOKEN`, or one of `ADMIN_TOKENS` (`name:token,...`, the audit names ' +
      'its operator). Without one the operator API answers 401.',
  },
  metricsToken: {
    type: 'http',
    scheme: 'bearer',
    description: '`METRICS_TOKEN`, when it is set; otherwise /metrics needs none.',
  },
}

/** The base document: what the routes' own schemas do not say. */
export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: pkg.name, version: pkg.version, description: DESCRIPTION },
  tags: TAGS,
  components: { securitySchemes: SECURITY_SCHEMES },
}

/** Shared schemas keep their `$id` as their name (`#/components/schemas/ErrorBody`). */
export const REF_RESOLVER = {
  buildLocalReference: (json: Json, _baseUri: unknown, _fragment: string, i: number) =>
    typeof json.$id === 'string' ? json.$id : `def-${i}`,
}

const RETRY_AFTER = { type: 'integer', minimum: 1, description: 'seconds to wait before retrying' }

/** Headers an error status carries, whichever code it is. */
const ERROR_HEADERS: Record<string, Record<string, Json>> = {
  401: { 'WWW-Authenticate': { type: 'string', description: 'the scheme wanted: `Bearer realm="flashsale"`' } },
  405: { Allow: { type: 'string', description: 'the methods this path takes' } },
  429: { 'Retry-After': RETRY_AFTER },
  503: { 'Retry-After': RETRY_AFTER },
}

/** /metrics belongs to fastify-metrics, which gives it no schema: this is its documentation. */
const METRICS_SCHEMA = {
  tags: ['metrics'],
  operationId: 'getMetrics',
  summary: 'Prometheus metrics',
  description: 'Route latency, Node\'s default metrics and the service\'s own `flashsale_*` metrics. With ' +
    '`METRICS_TOKEN` set it needs `Authorization: Bearer <token>`; with `METRICS_PORT` set it is served on that ' +
    'port only, and answers 404 here. Asked for OpenMetrics (`Accept: application/openmetrics-text`), it answers ' +
    'that format, where the route histogram\'s buckets carry `trace_id` exemplars when tracing is on.',
  security: [{}, { metricsToken: [] }],
  response: {
    200: {
      description: 'Prometheus text exposition format, or OpenMetrics when asked for it',
      content: { 'text/plain': { schema: { type: 'string' } }, 'application/openmetrics-text': { schema: { type: 'string' } } },
    },
    401: errorResponse('unauthorized'),
    404: errorResponse('not_found'),
  },
}

/** ErrorBody with `error` narrowed to the given codes. */
function errorBody (codes: unknown, ref: Json): Json {
  return { allOf: [ref, { type: 'object', properties: { error: { type: 'string', enum: codes } } }] }
}

/** The headers of an error response: its status's, and Retry-After for a code that says "retry". */
function errorHeaders (status: string, codes: readonly ErrorCode[] = []): Record<string, Json> | undefined {
  const retry = codes.some((code) => retriable(code, Number(status)))
  const headers = { ...ERROR_HEADERS[status], ...(retry && { 'Retry-After': RETRY_AFTER }) }
  return Object.keys(headers).length > 0 ? headers : undefined
}

/** A route's response that names its error codes, as @fastify/swagger takes it from a route schema. */
function documentedError (status: string, schema: Json): Json {
  const headers = errorHeaders(status, schema[ERROR_CODES] as ErrorCode[])
  return {
    description: schema.description,
    ...(headers && { headers }),
    content: { 'application/json': { schema: errorBody(schema[ERROR_CODES], Type.Ref(ErrorBody)) } },
  }
}

/** The same response as it stands in the finished document. */
function finishedError (status: string, schema: Json): Json {
  const headers = Object.entries(errorHeaders(status, schema[ERROR_CODES] as ErrorCode[]) ?? {}).map(([name, { description, ...header }]) =>
    [name, { description, schema: header }])
  return {
    description: schema.description,
    ...(headers.length > 0 && { headers: Object.fromEntries(headers) }),
    content: {
      'application/json': { schema: errorBody(schema[ERROR_CODES], { $ref: `#/components/schemas/${ErrorBody.$id}` }) },
    },
  }
}

function documentedResponses (response: Json): Json {
  return Object.fromEntries(Object.entries(response).map(([status, schema]) => {
    const s = schema as Json
    if (s[ERROR_CODES]) return [status, documentedError(status, s)]
    // A status without codes of its own (a health check's 503) still carries its headers.
    return [status, ERROR_HEADERS[status] && !('content' in s) ? { ...s, headers: ERROR_HEADERS[status] } : s]
  }))
}

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'])

/**
 * Transforms for @fastify/swagger. A hidden route's error responses belong to the documented
 * operations of its path: that is how the 405 of a known path called with another method shows.
 */
export function openapiTransforms (): { transform: SwaggerTransform; transformObject: SwaggerTransformObject } {
  const hiddenErrors = new Map<string, Json>()

  const transform: SwaggerTransform = ({ schema, url }) => {
    const source = (url === '/metrics' && !schema ? METRICS_SCHEMA : schema ?? {}) as Json
    const response = source.response as Record<string, Json> | undefined
    if (!response) return { schema: source as FastifySchema, url }
    if (source.hide) {
      const path = formatParamUrl(url)
      for (const [status, s] of Object.entries(response)) {
        if (s[ERROR_CODES]) hiddenErrors.set(path, { ...hiddenErrors.get(path), [status]: finishedError(status, s) })
      }
    }
    return { schema: { ...source, response: documentedResponses(response) } as FastifySchema, url }
  }

  const transformObject: SwaggerTransformObject = (document) => {
    const openapi = 'openapiObject' in document ? document.openapiObject : {}
    for (const [path, errors] of hiddenErrors) {
      const item = (openapi.paths?.[path] ?? {}) as Record<string, { responses?: Json }>
      for (const [method, operation] of Object.entries(item)) {
        if (!METHODS.has(method)) continue
        const responses = { ...errors, ...operation.responses }
        operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)))
      }
    }
    return openapi
  }

  return { transform, transformObject }
}
