// Exact references for exponential-histogram bucket indices, written independently of
// common/exphist.ts (no boundary table, no roots): membership is decided by integer
// comparisons of powers. Shared by the TypeScript and the in-kernel tests.

const nsPowCache = new Map<number, bigint>();
/** 1e9^(2^s) */
function nsPow(s: number): bigint {
  let p = nsPowCache.get(s);
  if (p === undefined) nsPowCache.set(s, (p = 1_000_000_000n ** (1n << BigInt(s))));
  return p;
}

/** Sign of (v ns, in seconds) − (lower boundary of bucket i at scale s), exactly. */
export function cmpNsToBoundary(v: bigint, s: number, i: number): number {
  let a: bigint;
  let b: bigint;
  if (s >= 0) {
    // v/1e9 vs 2^(i/n) ⇔ v^n vs 1e9^n · 2^i, with a negative i moved to the other side.
    const lhs = v ** (1n << BigInt(s));
    [a, b] = i >= 0 ? [lhs, nsPow(s) << BigInt(i)] : [lhs << BigInt(-i), nsPow(s)];
  } else {
    const e = i * 2 ** -s; // the boundary is 2^e seconds, e an integer
    [a, b] = e >= 0 ? [v, 1_000_000_000n << BigInt(e)] : [v << BigInt(-e), 1_000_000_000n];
  }
  return a > b ? 1 : a < b ? -1 : 0;
}

/** The bucket i at scale s with boundary_i < v ns ≤ boundary_(i+1), for v ≥ 1. */
export function refIndexNs(v: bigint, s: number): number {
  let i = Math.floor(Math.log2(Number(v) / 1e9) * 2 ** s);
  while (cmpNsToBoundary(v, s, i) <= 0) i--;
  while (cmpNsToBoundary(v, s, i + 1) > 0) i++;
  return i;
}

/** v = m · 2^e exactly, found by exact doublings and halvings. */
function exactDouble(v: number): { m: bigint; e: number } {
  let e = 0;
  while (!Number.isInteger(v)) {
    v *= 2;
    e--;
  }
  while (v >= 2 ** 53) {
    v /= 2;
    e++;
  }
  return { m: BigInt(v), e };
}

/** Bucket of v (> 0, seconds) at scale 0..8 from full BigInt powers: 2^i < v^n ≤ 2^(i+1). */
export function refIndexSeconds(v: number, s: number): number {
  const { m, e } = exactDouble(v);
  const n = 2 ** s;
  const mn = m ** BigInt(n);
  const cmp = (i: number) => {
    const t = i - e * n; // v^n vs 2^i ⇔ m^n vs 2^t
    const [a, b] = t >= 0 ? [mn, 1n << BigInt(t)] : [mn << BigInt(-t), 1n];
    return a > b ? 1 : a < b ? -1 : 0;
  };
  let i = Math.floor(Math.log2(v) * n);
  while (cmp(i) <= 0) i--;
  while (cmp(i + 1) > 0) i++;
  return i;
}

export { rng } from '../../common/seeded-random.ts';

/** A u64 spread evenly over bit lengths 1..64, i.e. log-uniform over [1, 2^64). */
export function randomU64(r: () => number): bigint {
  const bits = 1 + Math.floor(r() * 64);
  const hi = BigInt(Math.floor(r() * 2 ** 32));
  const lo = BigInt(Math.floor(r() * 2 ** 32));
  return (((hi << 32n) | lo) >> BigInt(64 - bits)) | (1n << BigInt(bits - 1));
}

/**
 * Values where a bucket index is easiest to get wrong: every boundary of the kernel
 * table and its neighbours, powers of ten, and exact multiples 1e9 · 2^k ns (powers
 * of two in seconds, boundaries at every scale ≥ 0) and their neighbours.
 */
export function edgeValuesNs(bounds: readonly bigint[]): bigint[] {
  const u64 = 1n << 64n;
  const values = new Set<bigint>([1n, 2n, 3n, u64 - 1n, u64 - 2n, 1n << 63n]);
  for (const b of bounds) for (const d of [-1n, 0n, 1n]) if (b + d >= 1n && b + d < u64) values.add(b + d);
  for (let p = 0n; p <= 19n; p++) values.add(10n ** p);
  for (let k = -9n; k <= 34n; k++) {
    const v = k >= 0n ? 1_000_000_000n << k : 1_000_000_000n >> -k;
    for (const d of [-1n, 0n, 1n]) if (v + d < u64) values.add(v + d);
  }
  return [...values];
}
