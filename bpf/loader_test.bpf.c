// SPDX-License-Identifier: GPL-2.0
/* Test-only object for agent/bpf.test.ts: one small program per loader capability
 * (rodata, tracepoint + per-CPU hash drain, uprobe with pid filter and cookie,
 * ring buffer bursts, syscall test runs, auto/raw attach, a verifier failure).
 * It is not loaded by the agent. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

/* Load-time configuration: the test sets these with setRodata() and checks the
 * programs saw its values, so a value that did not reach the kernel shows. */
const volatile __u32 increment = 1;
const volatile __u32 parent_tgid = 0;
const volatile __s32 signed_knob = 0;
const volatile __u64 magic = 0;
const volatile bool flag = false;
const volatile char tag[8] = {};

/* tgids whose getpid() calls are counted; the test adds its children here. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} watched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} getpid_counts SEC(".maps");

SEC("tracepoint")
int count_getpid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!bpf_map_lookup_elem(&watched, &tgid))
		return 0;
	__u64 *v = bpf_map_lookup_elem(&getpid_counts, &tgid);
	if (v) {
		*v += increment; /* per-CPU slot: no atomics needed */
	} else {
		__u64 init = increment;
		bpf_map_update_elem(&getpid_counts, &tgid, &init, BPF_NOEXIST);
	}
	return 0;
}

struct uprobe_key {
	__u32 tgid;
	__u32 pad;
	__u64 cookie;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct uprobe_key);
	__type(value, __u64);
} uprobe_hits SEC(".maps");

SEC("uprobe")
int count_uprobe(struct pt_regs *ctx)
{
	struct uprobe_key key = {
		.tgid = bpf_get_current_pid_tgid() >> 32,
		.cookie = bpf_get_attach_cookie(ctx),
	};
	__u64 one = 1, *v = bpf_map_lookup_elem(&uprobe_hits, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&uprobe_hits, &key, &one, BPF_NOEXIST);
	return 0;
}

/* execs whose parent is parent_tgid: slot 0 counted by tp_btf (auto-attach),
 * slot 1 by a raw tracepoint attached by name. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} exec_counts SEC(".maps");

static __always_inline void count_exec(__u32 slot, __u32 ptgid)
{
	if (ptgid != parent_tgid)
		return;
	__u64 *v = bpf_map_lookup_elem(&exec_counts, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	count_exec(0, p->real_parent->tgid);
	return 0;
}

SEC("raw_tp")
int exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx->args[0];
	count_exec(1, BPF_CORE_READ(p, real_parent, tgid));
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct event {
	__u64 seq;
	__u64 value;
};

#define MAX_EMIT 4096

/* ctx for emit_events; the kernel copies it back after the run (ctx out). */
struct emit_args {
	__u32 n;
	__u32 flags; /* 1: no wakeup for any record; 0: wake only on the last one */
	__u64 base;
	__u32 emitted;
	__u32 dropped;
};

struct emit_state {
	__u64 base;
	__u32 n;
	__u32 flags;
	__u32 emitted;
	__u32 dropped;
};

static long emit_one(__u32 i, void *data)
{
	struct emit_state *s = data;
	struct event e = { .seq = s->base + i, .value = (s->base + i) * 3 + 1 };
	/* A burst stays one batch for the reader: only the last record wakes it (or
	 * none, in which case the reader's periodic poll picks them up). */
	__u64 fl = s->flags == 1 ? BPF_RB_NO_WAKEUP :
		   (i + 1 == s->n ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	if (bpf_ringbuf_output(&events, &e, sizeof(e), fl))
		s->dropped++;
	else
		s->emitted++;
	return 0;
}

SEC("syscall")
int emit_events(struct emit_args *args)
{
	struct emit_state s = { .base = args->base, .n = args->n, .flags = args->flags };
	if (s.n > MAX_EMIT)
		s.n = MAX_EMIT;
	bpf_loop(s.n, emit_one, &s, 0);
	args->emitted = s.emitted;
	args->dropped = s.dropped;
	return s.emitted;
}

struct config_out {
	__u64 magic;
	__u32 increment;
	__s32 signed_knob;
	__u8 flag;
	char tag[8];
	__u8 pad[7];
};

/* Reports the rodata values the kernel sees (ctx out of a test run). */
SEC("syscall")
int read_config(struct config_out *out)
{
	out->magic = magic;
	out->increment = increment;
	out->signed_knob = signed_knob;
	out->flag = flag;
	for (int i = 0; i < 8; i++)
		out->tag[i] = tag[i];
	return 7;
}

/* Deliberately rejected by the verifier (dereferences a random scalar); "?" keeps
 * it out of the load unless a test turns its autoload on. */
SEC("?syscall")
int bad_prog(void *ctx)
{
	return *(volatile int *)(long)bpf_get_prandom_u32();
}
