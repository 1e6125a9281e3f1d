/* Layout shared by bpf/futex.bpf.c and agent/collectors/futex.ts. */
#ifndef BURNWATCH_FUTEX_H
#define BURNWATCH_FUTEX_H

enum futex_wait_op {
	FUTEX_WAIT_OP_WAIT = 1,    /* FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI */
	FUTEX_WAIT_OP_LOCK_PI = 2, /* FUTEX_LOCK_PI, FUTEX_LOCK_PI2 */
};

struct futex_series {
	__u32 tgid;
	__u32 op;
};

struct futex_hist_key {
	struct futex_series series;
	__s32 bucket; /* exponential-histogram index of the wait in seconds */
	__u32 pad;
};

struct futex_stats {
	__u64 count;
	__u64 sum_ns;
};

struct futex_start {
	__u64 start_ns;
	__u32 op;
	__u32 pad;
};

enum futex_drop_reason {
	FUTEX_DROP_HIST_MAP_FULL = 0,
	FUTEX_DROP_STATS_MAP_FULL = 1,
	FUTEX_DROP_INFLIGHT_FULL = 2,
	FUTEX_DROP_INFLIGHT_UNFINISHED = 3,
	FUTEX_DROP_REASONS = 4,
};

#endif
