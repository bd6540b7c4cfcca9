import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (s: string) => createHash('sha256').update(s).digest()
/** `Bearer <token>`; the scheme is case-insensitive (RFC 9110, section 11.1). */
const BEARER = /^bearer +(\S+) *$/i

/** What a 401 says about the scheme it wants (RFC 6750, section 3). */
export const WWW_AUTHENTICATE = 'Bearer realm="flashsale"'

/**
 * Checks an Authorization header against `Bearer <token>`. Digests are compared, in constant
 * time, so neither the token's content nor its length leaks through timing. An empty token
 * matches nothing.
 */
export function bearerMatcher (token: string): (header: string | undefined) => boolean {
  const expected = digest(token)
  return (header) => {
    const given = token.length > 0 && header !== undefined ? BEARER.exec(header)?.[1] : undefined
    return given !== undefined && timingSafeEqual(digest(given), expected)
  }
}

/** How the audit names the holder of an unnamed token: a fingerprint, from which the token cannot be had. */
export function tokenFingerprint (token: string): string {
  return `token:${digest(`flashsale operator ${token}`).toString('hex').slice(0, 12)}`
}

/**
 * Checks an Authorization header against several named tokens and answers the name of the one
 * it carries, or undefined. Every token is compared, in constant time, whichever matches: the
 * time taken says nothing about which did, or how close a guess came.
 */
export function operatorMatcher (tokens: readonly { name: string; token: string }[]): (header: string | undefined) => string | undefined {
  const known = tokens.filter((t) => t.token.length > 0).map((t) => ({ name: t.name, digest: digest(t.token) }))
  return (header) => {
    const given = header === undefined ? undefined : BEARER.exec(header)?.[1]
    if (given === undefined || known.length === 0) return undefined
    const presented = digest(given)
    let name: string | undefined
    for (const k of known) if (timingSafeEqual(presented, k.digest) && name === undefined) name = k.name
    return name
  }
}
