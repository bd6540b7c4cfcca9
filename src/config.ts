import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { isIP } from 'node:net'

const Url = (protocols: string) =>
  Type.String({ pattern: `^(${protocols})://`, description: `a ${protocols} URL` })

/** The samplers of OTEL_TRACES_SAMPLER this service knows (the SDK's own, no remote ones). */
export const SAMPLERS = [
  'always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio',
] as const

export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  // Connections the kernel queues before accept; it caps this at net.core.somaxconn.
  LISTEN_BACKLOG: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 65_535 }),
  REDIS_URL: Url('redis|rediss'),
  DATABASE_URL: Url('postgres|postgresql'),
  // host:port seeds of a Redis Cluster: then the service's data lives there and REDIS_URL is unused.
  REDIS_CLUSTER_NODES: Type.Array(Type.String({ pattern: '^[^\\s:,]+:\\d{1,5}$', description: 'host:port' }), { default: [] }),
  // Redlock's nodes; empty (with a cluster) means the cluster itself.
  REDLOCK_REDIS_URLS: Type.Array(Url('redis|rediss'), { default: [] }),
  // How many cluster slots one sale's stock is spread over (see docs/scaling.md).
  SALE_SHARDS: Type.Integer({ minimum: 1, maximum: 64, default: 1 }),
  // Replicas that must have a reservation or purchase before it is answered (WAIT); 0: none.
  REDIS_WAIT_REPLICAS: Type.Integer({ minimum: 0, maximum: 16, default: 0 }),
  REDIS_WAIT_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 60_000, default: 100 }),
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,32}$', default: 'fs' }),
  ADMIN_TOKEN: Type.String({ default: '' }),
  // Named operators, `name:token,...`: the audit says who (see parseAdminTokens).
  ADMIN_TOKENS: Type.Array(Type.Object({ name: Type.String(), token: Type.String() }), { default: [] }),
  // Attempts of sales ended longer ago than this many days are dropped; 0 keeps them all.
  ATTEMPT_RETENTION_DAYS: Type.Integer({ minimum: 0, maximum: 36_500, default: 0 }),
  RESERVATION_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  PER_USER_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10 }),
  SALE_SCHEDULE: Type.Union([Type.Literal('hourly'), Type.Literal('off')], { default: 'hourly' }),
  SALE_ITEMS: Type.Integer({ minimum: 1, maximum: 100_000, default: 10_000 }),
  SALE_STOCK_PER_ITEM: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' }
  ),
  LOCK_TTL_MS: Type.Integer({ minimum: 500, maximum: 60_000, default: 5_000 }),
  LOCK_RETRY_COUNT: Type.Integer({ minimum: 0, maximum: 100, default: 10 }),
  LOCK_RETRY_DELAY_MS: Type.Integer({ minimum: 1, maximum: 5_000, default: 25 }),
  COMMIT_LEASE_MS: Type.Integer({ minimum: 1_000, maximum: 600_000, default: 30_000 }),
  SWEEP_INTERVAL_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  SALE_REFRESH_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  // Purchases committed together in one Postgres transaction at most (group commit).
  PURCHASE_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 5_000, default: 256 }),
  ATTEMPT_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 5_000, default: 2_000 }),
  ATTEMPT_BUFFER_MAX: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 100_000 }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 500, default: 20 }),
  DB_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 5_000 }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  // A buyer request that cannot be answered within this (Redis or Postgres hung) gets 503.
  REQUEST_DEADLINE_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 1_000 }),
  SHUTDOWN_GRACE_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  // Load shedding (503 unavailable) past these limits; 0 switches a limit off.
  LOAD_SHED_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1_000 }),
  LOAD_SHED_HEAP_USED_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  LOAD_SHED_RSS_BYTES: Type.Integer({ minimum: 0, default: 0 }),
  // Abuse limits, counted in Redis so every instance shares them; 0 switches a limit off.
  RATE_LIMIT_IP_MAX: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 6_000 }),
  RATE_LIMIT_USER_MAX: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 100 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 10_000 }),
  // Fastify's trustProxy: whose X-Forwarded-For names the client (rate limits, logs). See parseTrustProxy.
  TRUST_PROXY: Type.Union([Type.Boolean(), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { default: false }),
  // /metrics: on a port of its own (then not on PORT), and/or behind a bearer token.
  // 'off' only to measure what observability costs: no route histogram, the domain's meters idle.
  METRICS: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'on' }),
  METRICS_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
  METRICS_TOKEN: Type.String({ default: '' }),
  // Tracing (OpenTelemetry's standard variables): on when an OTLP/HTTP endpoint is set, else
  // nothing of it is loaded. See tracesEndpoint.
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.String({ pattern: '^(https?://.+)?$', default: '', description: 'an http(s) URL' }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.String({ pattern: '^(https?://.+)?$', default: '', description: 'an http(s) URL' }),
  OTEL_SDK_DISABLED: Type.Union([Type.Literal('true'), Type.Literal('false')], { default: 'false' }),
  OTEL_SERVICE_NAME: Type.String({ minLength: 1, default: 'flashsale' }),
  OTEL_TRACES_SAMPLER: Type.Union(SAMPLERS.map((s) => Type.Literal(s)), { default: 'parentbased_always_on' }),
  // The ratio of the traceidratio samplers, 0 to 1 (default 1).
  OTEL_TRACES_SAMPLER_ARG: Type.String({ default: '' }),
})

export type Config = Static<typeof ConfigSchema>

export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379'
export const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/flashsale'

/** Shorter operator tokens are refused: they can be guessed. */
export const MIN_TOKEN_LENGTH = 16

export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

/** proxy-addr's names for ranges, which Fastify's trustProxy takes besides addresses. */
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** An IP address, a CIDR range of one (`10.0.0.0/8`, `fd00::/8`), or a range's name. */
function isProxyAddress (entry: string): boolean {
  if (PROXY_RANGES.has(entry)) return true
  const [address = '', bits, ...rest] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || rest.length > 0) return false
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
}

const TRUST_PROXY_VALUES = 'false, true, or comma-separated addresses and CIDR ranges (or loopback, linklocal, uniquelocal)'

/**
 * TRUST_PROXY as Fastify's `trustProxy` takes it: `false` (X-Forwarded-For is ignored), `true`
 * (its left-most address, which the client itself can write), or the proxies' addresses and
 * CIDR ranges, comma-separated (the client is the nearest address that is none of them).
 * Anything else is a problem, returned as a string.
 */
export function parseTrustProxy (value: string): boolean | string[] | { problem: string } {
  const text = value.trim().toLowerCase()
  if (text === 'false') return false
  if (text === 'true') return true
  // Fastify trusts nobody on a hop count (since 5.12.1): it cannot tell a proxy from a client
  // that wrote the header itself. Taking one would switch the setting off without a word.
  if (/^\d+$/.test(text)) {
    return { problem: `TRUST_PROXY: a hop count is not taken, list the proxies' addresses instead; expected ${TRUST_PROXY_VALUES} (got ${JSON.stringify(value)})` }
  }
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean)
  const bad = entries.filter((e) => !isProxyAddress(e))
  if (entries.length > 0 && bad.length === 0) return entries
  const which = bad.length > 0 ? `not an address or range: ${bad.map((e) => JSON.stringify(e)).join(', ')}; ` : ''
  return { problem: `TRUST_PROXY: ${which}expected ${TRUST_PROXY_VALUES} (got ${JSON.stringify(value)})` }
}

const OPERATOR_NAME = /^[A-Za-z0-9_.@-]{1,64}$/

/**
 * ADMIN_TOKENS as `name:token` pairs, comma-separated. Problems never quote a token: they name
 * the entry by its position and its operator.
 */
export function parseAdminTokens (value: string, adminToken = ''): { name: string; token: string }[] | { problems: string[] } {
  const problems: string[] = []
  const tokens: { name: string; token: string }[] = []
  value.split(',').map((e) => e.trim()).filter(Boolean).forEach((entry, i) => {
    const at = entry.indexOf(':')
    const name = at < 0 ? '' : entry.slice(0, at)
    const token = at < 0 ? '' : entry.slice(at + 1)
    const which = `ADMIN_TOKENS: entry ${i + 1}${OPERATOR_NAME.test(name) ? ` (${name})` : ''}`
    if (at < 0) problems.push(`${which}: expected name:token`)
    else if (!OPERATOR_NAME.test(name)) problems.push(`${which}: the name must be 1-64 characters of [A-Za-z0-9_.@-]`)
    else if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) problems.push(`${which}: the token must be at least ${MIN_TOKEN_LENGTH} characters, no spaces (got ${token.length})`)
    else if (tokens.some((t) => t.name === name)) problems.push(`${which}: the name is given twice`)
    else if (tokens.some((t) => t.token === token) || token === adminToken) problems.push(`${which}: the token is already another operator's`)
    else tokens.push({ name, token })
  })
  return problems.length > 0 ? { problems } : tokens
}

const numeric = new Set(
  Object.entries(ConfigSchema.properties)
    .filter(([, s]) => s.type === 'integer')
    .map(([k]) => k)
)

/**
 * Reads the environment once, validates every value and says what is wrong with each bad one.
 * Unset values take their defaults; REDLOCK_REDIS_URLS defaults to REDIS_URL.
 */
export function loadConfig (
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {}
): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(ConfigSchema.properties)) {
    const value = env[key]
    if (value === undefined || value === '') continue
    raw[key] = numeric.has(key) && /^-?\d+$/.test(value.trim()) ? Number(value) : value.trim()
  }
  for (const list of ['REDLOCK_REDIS_URLS', 'REDIS_CLUSTER_NODES']) {
    if (typeof raw[list] === 'string') raw[list] = raw[list].split(',').map((u) => u.trim()).filter(Boolean)
  }
  const early: string[] = []
  if (typeof raw.TRUST_PROXY === 'string') {
    const trust = parseTrustProxy(raw.TRUST_PROXY)
    if (typeof trust === 'object' && 'problem' in trust) {
      early.push(trust.problem)
      delete raw.TRUST_PROXY
    } else {
      raw.TRUST_PROXY = trust
    }
  }
  if (typeof raw.ADMIN_TOKENS === 'string') {
    const tokens = parseAdminTokens(raw.ADMIN_TOKENS, typeof raw.ADMIN_TOKEN === 'string' ? raw.ADMIN_TOKEN : '')
    if ('problems' in tokens) early.push(...tokens.problems)
    raw.ADMIN_TOKENS = 'problems' in tokens ? [] : tokens
  }
  Object.assign(raw, overrides)
  raw.REDIS_URL ??= LOCAL_REDIS_URL
  raw.DATABASE_URL ??= LOCAL_DATABASE_URL
  // Locks default to the data's own Redis: the cluster, or REDIS_URL.
  const clustered = Array.isArray(raw.REDIS_CLUSTER_NODES) && raw.REDIS_CLUSTER_NODES.length > 0
  if (!clustered) raw.REDLOCK_REDIS_URLS ??= [raw.REDIS_URL]

  const config = Value.Default(ConfigSchema, raw) as Config
  const problems = [...early, ...[...Value.Errors(ConfigSchema, config)].map(
    (e) => `${e.path.slice(1).split('/')[0] || '(root)'}: ${e.message} (got ${JSON.stringify(e.value)})`
  )]
  if (typeof config.ADMIN_TOKEN === 'string' && config.ADMIN_TOKEN.length > 0 && config.ADMIN_TOKEN.length < MIN_TOKEN_LENGTH) {
    problems.push(`ADMIN_TOKEN: must be at least ${MIN_TOKEN_LENGTH} characters (got ${config.ADMIN_TOKEN.length})`)
  }
  if (typeof config.METRICS_TOKEN === 'string' && config.METRICS_TOKEN.length > 0 && config.METRICS_TOKEN.length < MIN_TOKEN_LENGTH) {
    problems.push(`METRICS_TOKEN: must be at least ${MIN_TOKEN_LENGTH} characters (got ${config.METRICS_TOKEN.length})`)
  }
  if (config.OTEL_TRACES_SAMPLER_ARG && Number.isNaN(samplerRatio(config))) {
    problems.push(`OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1 (got ${JSON.stringify(config.OTEL_TRACES_SAMPLER_ARG)})`)
  }
  if (config.SALE_SCHEDULE === 'off' && !config.ADMIN_TOKEN && config.ADMIN_TOKENS.length === 0) {
    problems.push('ADMIN_TOKEN: required (or ADMIN_TOKENS) when SALE_SCHEDULE=off, since sales then come only from the operator API')
  }
  if (problems.length > 0) throw new ConfigError([...new Set(problems)])
  return config
}

/**
 * Where spans are exported (OTLP/HTTP), or undefined when tracing is off: the signal's own
 * endpoint as it is, else the general one with `/v1/traces` appended, as the OpenTelemetry
 * specification says. OTEL_SDK_DISABLED=true switches tracing off whatever is set.
 */
export function tracesEndpoint (config: Config): string | undefined {
  if (config.OTEL_SDK_DISABLED === 'true') return undefined
  if (config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  if (config.OTEL_EXPORTER_OTLP_ENDPOINT) return `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`
  return undefined
}

/** The ratio of the traceidratio samplers: OTEL_TRACES_SAMPLER_ARG, 1 when unset; NaN when invalid. */
export function samplerRatio (config: Config): number {
  const text = config.OTEL_TRACES_SAMPLER_ARG.trim()
  if (text === '') return 1
  const ratio = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : NaN
  return ratio >= 0 && ratio <= 1 ? ratio : NaN
}
