// SPDX-License-Identifier: GPL-2.0
/* Process lifecycle: every exec and every process exit on the host.
 *
 *   tp_btf/sched_process_exec  a program starts (the agent reads its build id from
 *                              /proc/PID/exe right away: a new one is a deploy)
 *   tp_btf/sched_process_exit  a thread ends; only the last one of its process is an
 *                              exit, with the process's wait status
 *
 * Kernel threads are skipped. Events go through a ring buffer, not a map: each one
 * matters on its own (a crash loop is a sequence of them). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "aggregate.bpf.h"
#include "lifecycle.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} lifecycle_events SEC(".maps");

DROP_COUNTER_MAP(lifecycle_dropped, LIFECYCLE_DROP_REASONS);

static __always_inline int emit(struct task_struct *p, __u32 type, __s32 exit_code)
{
	if (p->flags & PF_KTHREAD)
		return 0;
	struct lifecycle_event *e = bpf_ringbuf_reserve(&lifecycle_events, sizeof(*e), 0);
	if (!e) {
		drop_count(&lifecycle_dropped, LIFECYCLE_DROP_RING_FULL);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->type = type;
	e->pid = p->tgid;
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->exit_code = exit_code;
	BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(lifecycle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return emit(p, LIFECYCLE_EXEC, 0);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(lifecycle_exit, struct task_struct *p)
{
	/* do_exit() decrements signal->live before this tracepoint: 0 means the last
	 * thread (read here rather than the group_dead argument, which only 6.16+ pass). */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	/* A whole-group exit (exit_group, a fatal signal) records its status in the
	 * signal struct; a plain exit of the last thread in the task. */
	int code = BPF_CORE_READ(p, signal, group_exit_code);
	if (!code)
		code = p->exit_code;
	return emit(p, LIFECYCLE_EXIT, code);
}
