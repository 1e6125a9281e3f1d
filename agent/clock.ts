// The agent's clock for interval boundaries: wall-clock nanoseconds that advance with the
// monotonic clock, so they never step back (an NTP step must not reorder or overlap
// intervals — a point's identity is its series and its (start, end)).
const origin = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

export function epochNowNs(): bigint {
  return origin + process.hrtime.bigint();
}

/** Wall-clock ns of a CLOCK_MONOTONIC reading (bpf_ktime_get_ns), on the same scale as epochNowNs. */
export function epochFromMonotonicNs(monotonicNs: bigint): bigint {
  return origin + monotonicNs;
}
