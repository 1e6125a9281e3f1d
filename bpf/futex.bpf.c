// SPDX-License-Identifier: GPL-2.0
/* Futex waits of any process: the time a thread sleeps in futex(2) waiting for a word to
 * change (glibc's contended pthread mutexes and condition variables, semaphores, Python's
 * locks, the Go runtime's idle Ms) or for a PI lock.
 *
 *   tracepoint/syscalls/sys_enter_futex  a waiting op (not a wake or requeue): remember when,
 *                                        per thread
 *   tracepoint/syscalls/sys_exit_futex   the thread is back: one wait, whatever the result
 *                                        (woken, timed out, value changed, interrupted)
 *
 * The syscall tracepoints fire for futex calls only, not for every syscall as
 * raw_syscalls/sys_enter would. Waits go into per-CPU exponential-histogram buckets keyed by
 * (tgid, op), drained by generation (lib/aggregate.bpf.h). A thread killed while waiting
 * leaves its start behind: the agent sweeps those (tid gone) and counts them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "futex.h"

char LICENSE[] SEC("license") = "GPL";

/* linux/futex.h */
#define FUTEX_WAIT 0
#define FUTEX_LOCK_PI 6
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_LOCK_PI2 13
#define FUTEX_CMD_MASK 127 /* without FUTEX_PRIVATE_FLAG (128) and FUTEX_CLOCK_REALTIME (256) */

const volatile int hist_scale = 5;

GENERATION_CONTROL_MAP(futex_control);
DROP_COUNTER_MAP(futex_dropped, FUTEX_DROP_REASONS);
GENERATION_HASH_MAPS(futex_hist, struct futex_hist_key, __u64, 16384);
GENERATION_HASH_MAPS(futex_stats, struct futex_series, struct futex_stats, 8192);
INFLIGHT_MAP(futex_inflight, __u32, struct futex_start, 65536);

SEC("tracepoint/syscalls/sys_enter_futex")
int futex_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 cmd = ctx->args[1] & FUTEX_CMD_MASK, op;
	if (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET || cmd == FUTEX_WAIT_REQUEUE_PI)
		op = FUTEX_WAIT_OP_WAIT;
	else if (cmd == FUTEX_LOCK_PI || cmd == FUTEX_LOCK_PI2)
		op = FUTEX_WAIT_OP_LOCK_PI;
	else
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct futex_start s = { .start_ns = bpf_ktime_get_ns(), .op = op };
	inflight_start(&futex_inflight, &tid, &s, &futex_dropped, FUTEX_DROP_INFLIGHT_FULL, FUTEX_DROP_INFLIGHT_UNFINISHED);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_futex")
int futex_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct futex_start *s = bpf_map_lookup_elem(&futex_inflight, &tid);
	if (!s)
		return 0;
	__u64 ns = bpf_ktime_get_ns() - s->start_ns;
	struct futex_series series = { .tgid = id >> 32, .op = s->op };
	bpf_map_delete_elem(&futex_inflight, &tid);

	int gen = generation_current(&futex_control);
	struct futex_stats zero = {};
	struct futex_stats *st = lookup_or_init(GENERATION_SELECT(gen, futex_stats), &series, &zero, &futex_dropped, FUTEX_DROP_STATS_MAP_FULL);
	if (st) {
		st->count += 1;
		st->sum_ns += ns;
	}
	struct futex_hist_key k = { .series = series, .bucket = exphist_index(ns, hist_scale) };
	count_one(GENERATION_SELECT(gen, futex_hist), &k, &futex_dropped, FUTEX_DROP_HIST_MAP_FULL);
	return 0;
}
