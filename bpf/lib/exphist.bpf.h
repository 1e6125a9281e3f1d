/* SPDX-License-Identifier: GPL-2.0 */
/* Exponential-histogram bucket index, in the kernel, with integer math only.
 *
 * Bucket i at scale s holds (base^i, base^(i+1)] seconds with base = 2^(2^-s): the
 * OTLP ExponentialHistogram / Prometheus native-histogram scheme. The kernel measures
 * nanoseconds, but the index must be that of the value in seconds, and 1e9 is not a
 * power of the base, so a nanosecond index could not be converted afterwards.
 * Instead the value is compared with the generated table of bucket boundaries in
 * nanoseconds rounded down (exphist_table.h, computed by common/exphist.ts): for an
 * integer v and a real boundary B, v > B exactly when v > floor(B), so the result is
 * exact — the same index common/exphist.ts's bucketIndexForNanos computes.
 *
 * Range: exact for every 1 <= ns < 2^64; 0 ns is counted in the bucket of 1 ns.
 * Scales EXPHIST_MIN_SCALE..EXPHIST_MAX_SCALE (-10..5) are supported: the table is at
 * the finest, and coarser scales follow by a shift because buckets nest. A scale
 * outside that range is clamped (callers validate it before it reaches the kernel).
 *
 * Cost: 12 table loads and ~130 ALU instructions (tens of ns), branch-free, so the
 * verifier walks one path and the table (16 KiB at scale 5) is the only state.
 * Include after vmlinux.h. */
#ifndef BURNWATCH_EXPHIST_BPF_H
#define BURNWATCH_EXPHIST_BPF_H

#include "exphist_table.h"

/* 1 when a < b, else 0, as the borrow out of a - b: no compare-and-branch, so the
 * search below is one straight path for the verifier instead of 2^12. */
static __always_inline __u64 exphist__below(__u64 a, __u64 b)
{
	return ((~a & b) | (~(a ^ b) & (a - b))) >> 63;
}

/* Bucket index of a duration of `ns` nanoseconds, in seconds, at `scale`. */
static __always_inline int exphist_index(__u64 ns, int scale)
{
	__u64 pos = 0, below;

	/* pos = the number of table entries below ns, found by halving a
	 * power-of-two range: each step adds its width when the entry just before
	 * pos + step is still below ns. */
#pragma unroll
	for (__u64 step = EXPHIST_BOUNDS_SIZE / 2; step > 0; step >>= 1) {
		below = exphist__below(exphist_bounds_ns[pos + step - 1], ns);
		/* The barrier keeps clang from turning this back into a branch; a
		 * multiply rather than a mask (step & -below) because the verifier
		 * forks its state on a 0/-1 mask, which would bring back 2^12 paths. */
		asm volatile("" : "+r"(below));
		pos += below * step;
	}
	/* The steps reach at most SIZE - 1; the last entry decides SIZE. */
	below = exphist__below(exphist_bounds_ns[pos], ns);
	asm volatile("" : "+r"(below));
	pos += below;

	if (scale > EXPHIST_MAX_SCALE)
		scale = EXPHIST_MAX_SCALE;
	if (scale < EXPHIST_MIN_SCALE)
		scale = EXPHIST_MIN_SCALE;
	/* Buckets nest, so a coarser index is the finest one shifted right; the
	 * shift is arithmetic, i.e. floor division, also for negative indices. */
	return ((int)pos + EXPHIST_FIRST_INDEX - 1) >> (EXPHIST_MAX_SCALE - scale);
}

#endif /* BURNWATCH_EXPHIST_BPF_H */
