/* Layout shared by bpf/memory.bpf.c and agent/collectors/memory.ts. */
#ifndef BURNWATCH_MEMORY_H
#define BURNWATCH_MEMORY_H

struct memory_faults {
	__u64 minor;
	__u64 major;
};

#define OOM_CGROUP_DEPTH 8
#define OOM_CGROUP_NAME 64

/* One OOM kill, sent through the ring buffer (rare: no aggregation needed). */
struct oom_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 pid;   /* tgid of the victim */
	__u32 uid;
	char comm[16];
	__u32 depth; /* how many of names[] are filled, leaf first */
	__u32 pad;
	char names[OOM_CGROUP_DEPTH][OOM_CGROUP_NAME]; /* the memory cgroup's path, leaf first */
};

enum memory_drop_reason {
	MEMORY_DROP_FAULT_MAP_FULL = 0,
	MEMORY_DROP_OOM_RING_FULL = 1,
	MEMORY_DROP_REASONS = 2,
};

#endif
