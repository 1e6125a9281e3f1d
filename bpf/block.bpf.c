// SPDX-License-Identifier: GPL-2.0
/* Disk: block I/O latency per device, operation and issuing process; I/O errors.
 *
 *   tp_btf/block_io_start     a request is allocated, in the submitting process's context
 *                             (the issue may happen later from a kworker): remember who
 *   tp_btf/block_rq_issue     the request goes to the device: its latency starts
 *   tp_btf/block_rq_complete  the device is done: one latency (and an error if any)
 *
 * In-flight requests are keyed by address in a bounded hash (far above any queue depth; a
 * request freed without completing — merged away — is replaced when its preallocated
 * address is reused, and swept by age by the agent); latencies go to per-CPU exponential
 * histograms drained by generation. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "block.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000
#define REQ_OP_MASK 0xff

const volatile int hist_scale = 5;

struct inflight {
	__u64 seen_ns; /* first seen (io_start or issue): the agent's sweep ages entries by it */
	__u64 issued_ns;
	__u32 tgid;
	__u32 pad;
};

/* Not LRU: an LRU map would evict silently; a full hash map refuses and the refusal is counted. */
INFLIGHT_MAP(block_inflight, __u64 /* struct request * */, struct inflight, 16384);

GENERATION_CONTROL_MAP(block_control);
DROP_COUNTER_MAP(block_dropped, BLOCK_DROP_REASONS);
GENERATION_HASH_MAPS(block_hist, struct block_hist_key, __u64, 16384);
GENERATION_HASH_MAPS(block_stats, struct block_series, struct block_stats, 4096);

static __always_inline __u32 current_user_tgid(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return (t->flags & PF_KTHREAD) ? 0 : t->tgid;
}

SEC("tp_btf/block_io_start")
int BPF_PROG(block_io_start, struct request *rq)
{
	__u64 key = (__u64)rq;
	struct inflight v = { .seen_ns = bpf_ktime_get_ns(), .tgid = current_user_tgid() };
	if (bpf_map_update_elem(&block_inflight, &key, &v, BPF_ANY) != 0)
		drop_count(&block_dropped, BLOCK_DROP_INFLIGHT_FULL);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue, struct request *rq)
{
	__u64 key = (__u64)rq;
	__u64 now = bpf_ktime_get_ns();
	struct inflight *v = bpf_map_lookup_elem(&block_inflight, &key);
	if (v) {
		v->issued_ns = now;
		return 0;
	}
	/* No io_start seen (e.g. a flush, or a request older than the agent). */
	struct inflight nv = { .seen_ns = now, .issued_ns = now, .tgid = current_user_tgid() };
	if (bpf_map_update_elem(&block_inflight, &key, &nv, BPF_ANY) != 0)
		drop_count(&block_dropped, BLOCK_DROP_INFLIGHT_FULL);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct inflight *v = bpf_map_lookup_elem(&block_inflight, &key);
	if (!v)
		return 0;
	__u64 issued = v->issued_ns;
	__u32 tgid = v->tgid;
	bpf_map_delete_elem(&block_inflight, &key);
	if (!issued)
		return 0;
	__u64 ns = bpf_ktime_get_ns() - issued;

	struct block_hist_key k = {};
	k.series.tgid = tgid;
	struct gendisk *disk = BPF_CORE_READ(rq, q, disk);
	if (disk) {
		k.series.major = BPF_CORE_READ(disk, major);
		k.series.minor = BPF_CORE_READ(disk, first_minor);
	}
	k.series.op = rq->cmd_flags & REQ_OP_MASK;
	k.bucket = exphist_index(ns, hist_scale);
	count_one(GENERATION_MAP(&block_control, block_hist), &k, &block_dropped, BLOCK_DROP_HIST_MAP_FULL);
	struct block_stats zero = {};
	struct block_stats *s = lookup_or_init(GENERATION_MAP(&block_control, block_stats), &k.series, &zero,
					       &block_dropped, BLOCK_DROP_STATS_MAP_FULL);
	if (s) {
		s->count += 1;
		s->sum_ns += ns;
		if (error)
			s->errors += 1;
	}
	return 0;
}
