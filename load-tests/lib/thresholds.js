// Per-endpoint pass/fail criteria. A threshold that fails makes `k6 run` exit non-zero.

/**
 * Latency percentiles (ms) and the tolerated failure rate for each endpoint, e.g.
 * endpointThresholds({ checkout: { p95: 50, p99: 150, failed: 0.01 } }). "Failed" means an
 * answer outside the endpoint's expected statuses (a 5xx, a timeout, an unexpected 4xx).
 */
export function endpointThresholds (limits) {
  const out = {}
  for (const [endpoint, { p95, p99, failed }] of Object.entries(limits)) {
    out[`http_req_duration{endpoint:${endpoint}}`] = [`p(95)<${p95}`, `p(99)<${p99}`]
    out[`http_req_failed{endpoint:${endpoint}}`] = [`rate<${failed}`]
  }
  return out
}

/** Invariants checked in teardown and every functional check must hold. */
export const INVARIANT_THRESHOLDS = {
  sale_invariant_violations: ['count==0'],
  'checks{kind:invariant}': ['rate==1'],
}
