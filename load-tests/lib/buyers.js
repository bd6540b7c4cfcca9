// Buyer ids: distinct for every iteration of a run, valid for the API (1-64 of [A-Za-z0-9_-]).
import exec from 'k6/execution'

export function buyerId (runId, prefix = 'b') {
  return `${prefix}-${runId}-${exec.scenario.name.slice(0, 12)}-${exec.scenario.iterationInTest}`
}

/** A buyer tied to the virtual user rather than the iteration (for per-user limits). */
export function vuBuyerId (runId, prefix = 'v') {
  return `${prefix}-${runId}-${exec.vu.idInTest}`
}

export function randomItem (items) {
  return 1 + Math.floor(Math.random() * items)
}
