/* Layout shared by bpf/sched.bpf.c and agent/collectors/sched.ts. */
#ifndef BURNWATCH_SCHED_H
#define BURNWATCH_SCHED_H

/* One bucket of a process's run-queue latency histogram, and the on-CPU time added with it. */
struct sched_hist_key {
	__u32 tgid;
	__s32 bucket; /* exponential-histogram index of the latency in seconds; SCHED_NO_WAIT: none */
};

/* The bucket of a process's entry that carries on-CPU time only (a switch-out with no wait
 * ended since the task's last one): never a histogram bucket. */
#define SCHED_NO_WAIT ((__s32)0x80000000)

/* Per (process, bucket): the waits that fell in the bucket and their sum, and on-CPU time. A
 * process's run-queue sum and on-CPU time are the sums over its entries. */
struct sched_hist_value {
	__u64 runq_count;
	__u64 runq_sum_ns;
	__u64 oncpu_ns;
};

enum sched_drop_reason {
	SCHED_DROP_HIST_MAP_FULL = 0,
	SCHED_DROP_REASONS = 1,
};

#endif
