/* Layout shared by bpf/lifecycle.bpf.c and agent/collectors/lifecycle.ts. */
#ifndef BURNWATCH_LIFECYCLE_H
#define BURNWATCH_LIFECYCLE_H

#define LIFECYCLE_EXEC 1
#define LIFECYCLE_EXIT 2

/* One exec or exit, sent through the ring buffer (processes start and end rarely
 * compared with anything else here; the agent aggregates per interval). */
struct lifecycle_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 type;  /* LIFECYCLE_* */
	__u32 pid;   /* tgid */
	__u32 ppid;
	__s32 exit_code; /* exit: wait status, (code << 8) | signal */
	char comm[16];
};

enum lifecycle_drop_reason {
	LIFECYCLE_DROP_RING_FULL = 0,
	LIFECYCLE_DROP_REASONS = 1,
};

#endif
