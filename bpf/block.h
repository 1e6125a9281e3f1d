/* Layout shared by bpf/block.bpf.c and agent/collectors/block.ts. */
#ifndef BURNWATCH_BLOCK_H
#define BURNWATCH_BLOCK_H

/* A device, an operation and the process that issued the I/O. */
struct block_series {
	__u32 tgid; /* 0: a kernel thread (writeback, journal) */
	__u32 major;
	__u32 minor;
	__u32 op; /* REQ_OP_* (0 read, 1 write, 2 flush, 3 discard, …) */
};

struct block_hist_key {
	struct block_series series;
	__s32 bucket;
	__u32 pad;
};

struct block_stats {
	__u64 count;
	__u64 sum_ns;
	__u64 errors;
};

enum block_drop_reason {
	BLOCK_DROP_INFLIGHT_FULL = 0,
	BLOCK_DROP_HIST_MAP_FULL = 1,
	BLOCK_DROP_STATS_MAP_FULL = 2,
	BLOCK_DROP_REASONS = 3,
};

#endif
