/**
 * The one place Redis keys are built. All keys of one sale share the hash tag
 * `{prefix:sale.token}`, so every script touches a single slot and the design works on Redis
 * Cluster unchanged. The token is the sale's own random one from Postgres: a sale of the same id
 * in another database (a fresh one, or one restored from a backup) never meets these keys.
 */
export interface SaleKeys {
  /** `prefix:{prefix:sale.token}`: every key of the sale starts with it. */
  readonly tag: string
  readonly meta: string
  readonly stock: string
  readonly users: string
  readonly res: string
  readonly due: string
  readonly log: string
  /** The five state keys, in the order every script expects them. */
  readonly state: readonly [string, string, string, string, string]
}

export function saleKeys (prefix: string, saleId: number, token: string): SaleKeys {
  // Sales created before tokens existed keep the keys they had.
  const tag = token ? `${prefix}:{${prefix}:${saleId}.${token}}` : `${prefix}:{${prefix}:${saleId}}`
  const meta = `${tag}:meta`
  const stock = `${tag}:stock`
  const users = `${tag}:users`
  const res = `${tag}:res`
  const due = `${tag}:due`
  return { tag, meta, stock, users, res, due, log: `${tag}:log`, state: [meta, stock, users, res, due] }
}

/** Where @fastify/rate-limit counts requests per address on the other buyer routes. */
export function routeRateKeyPrefix (prefix: string): string {
  return `${prefix}:ratelimit:`
}

/** Checkout rate counters, in the sale's slot so the checkout script can count them. */
export function rateKeys (keys: SaleKeys, ip: string, user: string): [ip: string, user: string] {
  return [`${keys.tag}:ratelimit:ip:${ip}`, `${keys.tag}:ratelimit:user:${user}`]
}

export function lockResource (prefix: string, saleId: number, code: string): string {
  return `${prefix}:{${prefix}:${saleId}}:lock:${code}`
}

/** Consumer group that drains every sale's attempt stream into Postgres. */
export const ATTEMPT_GROUP = 'attempt-log'

/**
 * Reservation codes carry their sale id, so a purchase finds its keys without a lookup:
 * `<sale id>-<32 hex>`.
 */
export const CODE_PATTERN = '^[1-9][0-9]{0,15}-[0-9a-f]{32}$'

export function saleIdOfCode (code: string): number {
  return Number(code.slice(0, code.indexOf('-')))
}
