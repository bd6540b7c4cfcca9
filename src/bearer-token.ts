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
