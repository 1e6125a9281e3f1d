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
 * generation (lib/aggregate.bpf.h). sched_switch is the hottest tracepoint there is, so a
 * task's run costs one map operation: the wait that ended at its switch-in rides in task
 * storage (its bucket, its length) until its switch-out, where one update of the
 * (tgid, bucket) entry adds the wait and the on-CPU time of the run together. Two (one for
 * the bucket at the switch-in, one for the process's totals at the switch-out) cost ~100 ns
 * more per run (docs/syscall-l7.md, "Cost"). A wait is counted in the interval of the
 * switch-out that ends the run after it: a task running at a drain has its last wait counted
 * in the next one (a dying task switches out one last time, so none is lost). */
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
	/* The wait that ended at the task's switch-in, counted at its switch-out with its on-CPU time. */
	__u64 wait_ns;
	__s32 wait_bucket;
	__u32 waited; /* 1: wait_ns and wait_bucket hold a wait not counted yet */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_task);
} sched_tasks SEC(".maps");

GENERATION_CONTROL_MAP(sched_control);
DROP_COUNTER_MAP(sched_dropped, SCHED_DROP_REASONS);
GENERATION_HASH_MAPS(sched_hist, struct sched_hist_key, struct sched_hist_value, 32768);

static __always_inline int is_user_task(struct task_struct *p)
{
	return p->pid != 0 && !(p->flags & PF_KTHREAD);
}

/* Adds the task's pending wait (if any) and `oncpu_ns` to its process's entry; one lookup. */
static __always_inline void count_run(int gen, __u32 tgid, struct sched_task *t, __u64 oncpu_ns)
{
	struct sched_hist_key k = { .tgid = tgid, .bucket = t->waited ? t->wait_bucket : SCHED_NO_WAIT };
	struct sched_hist_value zero = {};
	struct sched_hist_value *v = lookup_or_init(GENERATION_SELECT(gen, sched_hist), &k, &zero, &sched_dropped, SCHED_DROP_HIST_MAP_FULL);
	if (v) {
		v->runq_count += t->waited;
		v->runq_sum_ns += t->wait_ns;
		v->oncpu_ns += oncpu_ns;
	}
	t->waited = 0;
	t->wait_ns = 0;
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
			if (t->oncpu_since_ns || t->waited)
				count_run(gen, prev->tgid, t, t->oncpu_since_ns ? now - t->oncpu_since_ns : 0);
			t->oncpu_since_ns = 0;
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
	/* A wait still pending here missed its switch-out (the kernel skips a run that would nest
	 * in another of the program on the CPU): counted now, not overwritten. */
	if (t->waited)
		count_run(gen, next->tgid, t, 0);
	t->oncpu_since_ns = now;
	if (!t->enqueued_ns)
		return 0;
	__u64 lat = now - t->enqueued_ns;
	t->enqueued_ns = 0;
	t->wait_bucket = exphist_index(lat, hist_scale);
	t->wait_ns = lat;
	t->waited = 1;
	return 0;
}
