// SPDX-License-Identifier: GPL-2.0
/* Memory: page faults per process (minor/major) and OOM kills.
 *
 *   tp_btf/page_fault_user     a user-mode fault begins; whether it is major is only
 *                              known once it is handled, so each hit adds the change of
 *                              the thread's own min_flt/maj_flt counters since its last
 *                              hit (which also catches faults taken in the kernel on
 *                              user memory, e.g. read() into a fresh buffer)
 *   tp_btf/sched_process_exit  a thread ends: add what its last faults left
 *   tp_btf/mark_victim         the OOM killer chose a victim: one ring-buffer record with
 *                              its pid, comm and memory cgroup path
 *
 * The last seen counters live in task storage (no bound, freed with the task). A
 * thread's last faults before it goes quiet are counted at its next fault or its exit. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "aggregate.bpf.h"
#include "memory.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_KTHREAD 0x00200000

/* Before 6.15 the parent pointer was `parent`. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

struct fault_seen {
	__u64 minor;
	__u64 major;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fault_seen);
} memory_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} oom_events SEC(".maps");

GENERATION_CONTROL_MAP(memory_control);
DROP_COUNTER_MAP(memory_dropped, MEMORY_DROP_REASONS);
GENERATION_HASH_MAPS(memory_faults, __u32, struct memory_faults, 16384);

static __always_inline int account_faults(struct task_struct *task)
{
	if (task->flags & PF_KTHREAD)
		return 0;
	__u64 minor = task->min_flt, major = task->maj_flt;
	struct fault_seen *seen = bpf_task_storage_get(&memory_tasks, task, 0, 0);
	if (!seen) {
		/* First sight: a baseline, so faults from before the agent are not counted. */
		struct fault_seen init = { .minor = minor, .major = major };
		bpf_task_storage_get(&memory_tasks, task, &init, BPF_LOCAL_STORAGE_GET_F_CREATE);
		return 0;
	}
	__u64 dmin = minor - seen->minor, dmaj = major - seen->major;
	if (!dmin && !dmaj)
		return 0;
	seen->minor = minor;
	seen->major = major;
	__u32 tgid = task->tgid;
	struct memory_faults zero = {};
	struct memory_faults *f = lookup_or_init(GENERATION_MAP(&memory_control, memory_faults), &tgid, &zero,
						 &memory_dropped, MEMORY_DROP_FAULT_MAP_FULL);
	if (f) {
		f->minor += dmin;
		f->major += dmaj;
	}
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	return account_faults(bpf_get_current_task_btf());
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(memory_task_exit, struct task_struct *p)
{
	return account_faults(p);
}

SEC("tp_btf/mark_victim")
int BPF_PROG(oom_mark_victim, struct task_struct *victim, uid_t uid)
{
	struct oom_event *e = bpf_ringbuf_reserve(&oom_events, sizeof(*e), 0);
	if (!e) {
		drop_count(&memory_dropped, MEMORY_DROP_OOM_RING_FULL);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = victim->tgid;
	e->uid = uid;
	BPF_CORE_READ_STR_INTO(&e->comm, victim, comm);

	/* The memory controller's cgroup (on a cgroup v1/v2 hybrid it is not the v2 one). */
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css = NULL;
	if (id >= 0 && id < 12)
		css = BPF_CORE_READ(victim, cgroups, subsys[id]);
	struct kernfs_node *kn = css ? BPF_CORE_READ(css, cgroup, kn) : NULL;
	__u32 depth = 0;
#pragma unroll
	for (int i = 0; i < OOM_CGROUP_DEPTH; i++) {
		if (!kn)
			break;
		struct kernfs_node *parent;
		if (bpf_core_field_exists(kn->__parent))
			parent = BPF_CORE_READ(kn, __parent);
		else
			parent = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
		if (!parent) /* the root's name is "/" or empty: not a path component */
			break;
		bpf_probe_read_kernel_str(e->names[i], OOM_CGROUP_NAME, BPF_CORE_READ(kn, name));
		depth++;
		kn = parent;
	}
	e->depth = depth;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
