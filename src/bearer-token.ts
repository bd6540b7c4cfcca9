import { createHash, timingSafeEqual } from 'node:crypto'

const digest = (s: string) => createHash('sha256').update(s).digest()

/**
 * Checks an Authorization header against `Bearer <token>`. Digests are compared, in constant
 * time, so neither the token's content nor its length leaks through timing. An empty token
 * matches nothing.
 */
export function bearerMatcher(token: string): (header: string | undefined) => boolean {
  const expected = digest(`Bearer ${token}`)
  return (header) => token.length > 0 && header !== undefined && timingSafeEqual(digest(header), expected)
}
