// VUs for arrival-rate scenarios. An arrival-rate executor starts each iteration on schedule on a
// free VU; when none is free the iteration is dropped (dropped_iterations, "Insufficient VUs").
// By Little's law the iterations in flight are arrivals a second x seconds an iteration lasts:
// 2,000 checkouts a second that take 350 ms each keep 700 VUs busy.

/**
 * preAllocatedVUs and maxVUs for `ratePerSecond` arrivals (the peak of a ramping executor) of
 * iterations that usually last `typicalMs` and at worst `worstMs`: the latency past which the
 * run fails its thresholds anyway, so more VUs would only pile more load on a failing service.
 * The typical count is allocated before the start (a VU created mid-run costs its iteration the
 * time to initialise it); k6 adds VUs up to the worst-case count as latency grows.
 */
export function arrivalVUs (ratePerSecond, typicalMs, worstMs) {
  if (!(ratePerSecond > 0) || !(typicalMs > 0) || !(worstMs >= typicalMs)) {
    throw new Error(`arrivalVUs needs a rate > 0 and 0 < typicalMs <= worstMs (got ${ratePerSecond}, ${typicalMs}, ${worstMs})`)
  }
  return {
    preAllocatedVUs: Math.ceil((ratePerSecond * typicalMs) / 1000),
    maxVUs: Math.ceil((ratePerSecond * worstMs) / 1000),
  }
}

/** The highest target of a ramping executor's stages (or its start rate). */
export function peakRate (startRate, stages) {
  return stages.reduce((peak, s) => Math.max(peak, s.target), startRate)
}
