// SPDX-License-Identifier: GPL-2.0
/* Go goroutines stalled in the runtime: waits on contended sync.Mutex / sync.RWMutex, and
 * GC assists. The probe points (agent/goinspect/probe-sets.ts: goLockWait, goGcAssist) are
 * chosen so that the uncontended, debt-free paths pay nothing:
 *
 *   go_lock_wait_start  the `call runtime.acquireSudog` in runtime.semacquire1: the fast path
 *                       (cansemacquire) failed, the goroutine is about to queue and park.
 *                       Kept only when semacquire1 was called by sync.runtime_SemacquireMutex
 *                       (its return address is the attach cookie); the frames above are
 *                       read through the frame pointers to name the waiting function.
 *   go_lock_wait_end    the `call runtime.releaseSudog` in semacquire1: the semaphore is held.
 *   go_gc_assist_start  runtime.gcAssistAlloc's entry (the prologue's jbe).
 *   go_gc_assist_end    the instruction after mallocgc's call of gcAssistAlloc.
 *
 * Calls are emulated by the kernel (no single-step), so a lock wait costs two cheap hits; the
 * assist's end is single-stepped once per assist. In-flight state is keyed by (tgid, kind,
 * goroutine): a lock wait may allocate a sudog and assist inside it. Waits go into per-CPU
 * exponential-histogram buckets by series, drained by generation (lib/aggregate.bpf.h). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "go_abi.bpf.h"
#include "go_waits.h"

char LICENSE[] SEC("license") = "GPL";

const volatile int hist_scale = 5;
/* Distinct lock call sites per process and interval; more share one series with no frames. */
const volatile __u64 series_cap = 64;

GENERATION_CONTROL_MAP(waits_control);
DROP_COUNTER_MAP(waits_dropped, GO_WAITS_DROP_REASONS);
GENERATION_HASH_MAPS(waits_hist, struct go_wait_hist_key, __u64, 16384);
GENERATION_HASH_MAPS(waits_stats, struct go_wait_series, struct go_wait_stats, 4096);
GENERATION_COUNTER_MAPS(waits_series_count, __u32, 4096);
INFLIGHT_MAP(waits_inflight, struct go_goroutine_key, struct go_wait_start, 65536);

#if defined(__TARGET_ARCH_x86)
#define GO_FRAME_POINTER(ctx) ((ctx)->bp)
#else
#define GO_FRAME_POINTER(ctx) ((ctx)->regs[29])
#endif

static __always_inline struct go_goroutine_key wait_key(struct pt_regs *ctx, __u32 kind)
{
	struct go_goroutine_key k = go_current_goroutine(ctx);
	k.pad = kind;
	return k;
}

static __always_inline int wait_begin(struct pt_regs *ctx, __u32 kind, struct go_wait_start *s)
{
	struct go_goroutine_key k = wait_key(ctx, kind);
	struct go_wait_start *outer = bpf_map_lookup_elem(&waits_inflight, &k);
	if (outer) {
		__sync_fetch_and_add(&outer->depth, 1);
		return 0;
	}
	s->start_ns = bpf_ktime_get_ns();
	inflight_start(&waits_inflight, &k, s, &waits_dropped, GO_WAITS_DROP_INFLIGHT_FULL, GO_WAITS_DROP_INFLIGHT_UNFINISHED);
	return 0;
}

static __always_inline int wait_end(struct pt_regs *ctx, __u32 kind)
{
	struct go_goroutine_key k = wait_key(ctx, kind);
	struct go_wait_start *s = bpf_map_lookup_elem(&waits_inflight, &k);
	if (!s)
		return 0;
	if (s->depth) {
		__sync_fetch_and_add(&s->depth, -1);
		return 0;
	}
	__u64 ns = bpf_ktime_get_ns() - s->start_ns;
	struct go_wait_series series = { .tgid = k.tgid, .kind = kind };
	__builtin_memcpy(series.frames, s->frames, sizeof(series.frames));
	bpf_map_delete_elem(&waits_inflight, &k);

	int gen = generation_current(&waits_control);
	void *stats_map = GENERATION_SELECT(gen, waits_stats);
	if (kind == GO_WAIT_LOCK && !bpf_map_lookup_elem(stats_map, &series) &&
	    !cardinality_admit(GENERATION_SELECT(gen, waits_series_count), k.tgid, series_cap, &waits_dropped,
			       GO_WAITS_DROP_STATS_MAP_FULL)) {
		drop_count(&waits_dropped, GO_WAITS_DROP_SERIES_OVER);
		__builtin_memset(series.frames, 0, sizeof(series.frames));
	}
	struct go_wait_stats zero = {};
	struct go_wait_stats *st = lookup_or_init(stats_map, &series, &zero, &waits_dropped, GO_WAITS_DROP_STATS_MAP_FULL);
	if (st) {
		st->count += 1;
		st->sum_ns += ns;
	}
	struct go_wait_hist_key hk = { .series = series, .bucket = exphist_index(ns, hist_scale) };
	count_one(GENERATION_SELECT(gen, waits_hist), &hk, &waits_dropped, GO_WAITS_DROP_HIST_MAP_FULL);
	return 0;
}

SEC("uprobe")
int go_lock_wait_start(struct pt_regs *ctx)
{
	/* semacquire1 has its frame: bp+8 is its return address, bp its caller's frame pointer. */
	__u64 fp = GO_FRAME_POINTER(ctx), ret = 0;
	if (bpf_probe_read_user(&ret, sizeof(ret), (void *)(fp + 8)) != 0 || ret != bpf_get_attach_cookie(ctx))
		return 0; /* a WaitGroup or a runtime semaphore, not a sync lock */
	struct go_wait_start s = {};
#pragma unroll
	for (int i = 0; i < GO_WAIT_FRAMES; i++) {
		if (bpf_probe_read_user(&fp, sizeof(fp), (void *)fp) != 0 || !fp)
			break;
		if (bpf_probe_read_user(&s.frames[i], sizeof(s.frames[i]), (void *)(fp + 8)) != 0)
			break;
	}
	return wait_begin(ctx, GO_WAIT_LOCK, &s);
}

SEC("uprobe")
int go_lock_wait_end(struct pt_regs *ctx)
{
	return wait_end(ctx, GO_WAIT_LOCK);
}

SEC("uprobe")
int go_gc_assist_start(struct pt_regs *ctx)
{
	if (go_probe_is_restart(ctx, bpf_get_attach_cookie(ctx)))
		return 0;
	struct go_wait_start s = {};
	return wait_begin(ctx, GO_WAIT_GC_ASSIST, &s);
}

SEC("uprobe")
int go_gc_assist_end(struct pt_regs *ctx)
{
	return wait_end(ctx, GO_WAIT_GC_ASSIST);
}
