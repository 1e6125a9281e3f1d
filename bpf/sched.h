/* Layout shared by bpf/sched.bpf.c and agent/collectors/sched.ts. */
#ifndef BURNWATCH_SCHED_H
#define BURNWATCH_SCHED_H

/* One bucket of a process's run-queue latency histogram. */
struct sched_hist_key {
	__u32 tgid;
	__s32 bucket; /* exponential-histogram index of the latency in seconds */
};

struct sched_proc_stats {
	__u64 runq_count;
	__u64 runq_sum_ns;
	__u64 oncpu_ns;
};

enum sched_drop_reason {
	SCHED_DROP_HIST_MAP_FULL = 0,
	SCHED_DROP_PROC_MAP_FULL = 1,
	SCHED_DROP_REASONS = 2,
};

#endif
