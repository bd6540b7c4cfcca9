// Settings every scenario reads from the environment (k6 -e NAME=value or the process env).

export const BASE_URL = (__ENV.BASE_URL || 'http://localhost:3000').replace(/\/+$/, '')
export const ADMIN_TOKEN = __ENV.ADMIN_TOKEN || ''
export const PROFILE = __ENV.PROFILE || 'smoke'

const PROFILES = ['smoke', 'load', 'stress']
if (!PROFILES.includes(PROFILE)) {
  throw new Error(`PROFILE must be one of ${PROFILES.join(', ')} (got "${PROFILE}")`)
}

/** Picks the value for the current profile: byProfile({ smoke: 1, load: 10, stress: 100 }). */
export function byProfile (values) {
  if (!(PROFILE in values)) throw new Error(`no value for profile ${PROFILE}`)
  return values[PROFILE]
}

/** A short id for this run, so buyers of one run never collide with those of another. */
export function newRunId () {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`
}
