/* Layout shared by bpf/go_waits.bpf.c and agent/collectors/go-waits.ts. */
#ifndef BURNWATCH_GO_WAITS_H
#define BURNWATCH_GO_WAITS_H

enum go_wait_kind {
	GO_WAIT_LOCK = 1,      /* parked on a contended sync.Mutex / sync.RWMutex */
	GO_WAIT_GC_ASSIST = 2, /* paying GC assist debt in runtime.gcAssistAlloc */
};

/* Return addresses above runtime.sync_runtime_SemacquireMutex, innermost first: the agent
 * names the waiting function as the first of them outside package sync. */
#define GO_WAIT_FRAMES 4

/* One series: a process, what it waited on, and for a lock where it waited from. */
struct go_wait_series {
	__u32 tgid;
	__u32 kind;
	__u64 frames[GO_WAIT_FRAMES]; /* run-time addresses; all 0 for GC assist or over the cap */
};

struct go_wait_hist_key {
	struct go_wait_series series;
	__s32 bucket; /* exponential-histogram index of the wait in seconds */
	__u32 pad;
};

struct go_wait_stats {
	__u64 count;
	__u64 sum_ns;
};

struct go_wait_start {
	__u64 start_ns;
	/* Starts of the same kind nested in this one (an assist's own allocations): the wait
	 * ends when the outermost does. */
	__u64 depth;
	__u64 frames[GO_WAIT_FRAMES];
};

enum go_waits_drop_reason {
	GO_WAITS_DROP_HIST_MAP_FULL = 0,
	GO_WAITS_DROP_STATS_MAP_FULL = 1,
	GO_WAITS_DROP_INFLIGHT_FULL = 2,
	GO_WAITS_DROP_INFLIGHT_UNFINISHED = 3,
	GO_WAITS_DROP_SERIES_OVER = 4,
	GO_WAITS_DROP_REASONS = 5,
};

#endif
