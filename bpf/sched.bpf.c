// SPDX-License-Identifier: GPL-2.0
/* CPU: run-queue latency (runnable → running) and on-CPU time, per process.
 *
 *   tp_btf/sched_wakeup, sched_wakeup_new  a task becomes runnable: remember when
 *   tp_btf/sched_switch                    prev leaves the CPU (on-CPU time ends; if
 *                                          it was preempted it is runnable again),
 *                                          next gets it (its wait ends: one latency)
 *
 * Per-task timestamps live in task storage (freed with the task: no bound to size,
 * nothing to evict). Kernel threads are skipped: they are not services. Latencies go
 * into per-CPU exponential-histogram buckets keyed by (tgid, bucket), drained by
 * generation (lib/aggregate.bpf.h). sched_switch is the hottest tracepoint there is,
 * so each program is a couple of map operations and no loops beyond exphist_index: a
 * wait's sum rides in task storage until the task's next switch-out, where one update of
 * the process's stats adds it with the on-CPU time (so a wait's bucket and its share of
 * the sum can land in neighbouring intervals; counts are exact). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "sched.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000
#define TASK_RUNNING 0

const volatile int hist_scale = 5;

struct sched_task {
	__u64 enqueued_ns;
	__u64 oncpu_since_ns;
	/* Waits since the last switch-out, added to the process's stats with its on-CPU time:
	 * one process-map update per switch instead of two. */
	__u64 pending_runq_count;
	__u64 pending_runq_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_task);
} sched_tasks SEC(".maps");

GENERATION_CONTROL_MAP(sched_control);
DROP_COUNTER_MAP(sched_dropped, SCHED_DROP_REASONS);
GENERATION_HASH_MAPS(sched_hist, struct sched_hist_key, __u64, 32768);
GENERATION_HASH_MAPS(sched_procs, __u32, struct sched_proc_stats, 16384);

static __always_inline int is_user_task(struct task_struct *p)
{
	return p->pid != 0 && !(p->flags & PF_KTHREAD);
}

static __always_inline struct sched_proc_stats *proc_stats(int gen, __u32 tgid)
{
	struct sched_proc_stats zero = {};
	return lookup_or_init(GENERATION_SELECT(gen, sched_procs), &tgid, &zero, &sched_dropped, SCHED_DROP_PROC_MAP_FULL);
}

static __always_inline int mark_runnable(struct task_struct *p)
{
	if (!is_user_task(p))
		return 0;
	struct sched_task *t = bpf_task_storage_get(&sched_tasks, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (t)
		t->enqueued_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	return mark_runnable(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	return mark_runnable(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();
	int gen = generation_current(&sched_control);

	if (is_user_task(prev)) {
		struct sched_task *t = bpf_task_storage_get(&sched_tasks, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (t) {
			if (t->oncpu_since_ns || t->pending_runq_count) {
				struct sched_proc_stats *s = proc_stats(gen, prev->tgid);
				if (s) {
					if (t->oncpu_since_ns)
						s->oncpu_ns += now - t->oncpu_since_ns;
					s->runq_count += t->pending_runq_count;
					s->runq_sum_ns += t->pending_runq_ns;
				}
				t->oncpu_since_ns = 0;
				t->pending_runq_count = 0;
				t->pending_runq_ns = 0;
			}
			/* Preempted, still runnable: its next wait starts now. */
			if (prev_state == TASK_RUNNING)
				t->enqueued_ns = now;
		}
	}

	if (!is_user_task(next))
		return 0;
	struct sched_task *t = bpf_task_storage_get(&sched_tasks, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t)
		return 0;
	t->oncpu_since_ns = now;
	if (!t->enqueued_ns)
		return 0;
	__u64 lat = now - t->enqueued_ns;
	t->enqueued_ns = 0;

	struct sched_hist_key k = { .tgid = next->tgid, .bucket = exphist_index(lat, hist_scale) };
	count_one(GENERATION_SELECT(gen, sched_hist), &k, &sched_dropped, SCHED_DROP_HIST_MAP_FULL);
	t->pending_runq_count += 1;
	t->pending_runq_ns += lat;
	return 0;
}
