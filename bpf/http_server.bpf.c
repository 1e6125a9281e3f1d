// SPDX-License-Identifier: GPL-2.0
/* Go net/http server requests, aggregated in the kernel.
 *
 * Two entry uprobes per request, both on the stack-check `jbe` of the function's
 * prologue (a few µs a hit under virtualisation, against ~30 µs at +0 or at a RET):
 *   net/http.serverHandler.ServeHTTP      — the request starts (keyed by tgid + goroutine)
 *   net/http.(*response).finishRequest    — the response is done; its receiver carries
 *                                           the request and the status (0 means 200)
 * No return probes: Go moves goroutine stacks and crashes on the trampoline address.
 *
 * Each request lands in a per-CPU exponential histogram keyed by (pid, method, raw
 * path, status, bucket). The maps come in two generations: the agent flips
 * `http_control[0]`, waits for in-flight programs, then drains the idle generation
 * with batch lookup-and-delete, so no increment can race a delete (exact deltas;
 * lib/aggregate.bpf.h, shared with the kernel-signal programs). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "go_abi.bpf.h"
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "http_server.h"

char LICENSE[] SEC("license") = "GPL";

const volatile int hist_scale = 5;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_goroutine_key);
	__type(value, __u64);
} http_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GO_BINARY_SLOTS);
	__type(key, __u32);
	__type(value, struct go_http_offsets);
} go_http_offsets SEC(".maps");

/* [0] = the generation the probes write to (0 or 1). */
GENERATION_CONTROL_MAP(http_control);
DROP_COUNTER_MAP(http_dropped, HTTP_DROP_REASONS);
GENERATION_HASH_MAPS(http_buckets, struct http_bucket_key, __u64, 32768);
GENERATION_HASH_MAPS(http_stats, struct http_series, struct http_stats, 8192);

static __always_inline void count_drop(__u32 reason)
{
	drop_count(&http_dropped, reason);
}

/* In-place increment when the series exists, else insert; a full map is counted, not silent. */
static __always_inline void record(void *buckets, void *stats, struct http_bucket_key *bk, __u64 dur_ns)
{
	count_one(buckets, bk, &http_dropped, HTTP_DROP_BUCKET_MAP_FULL);
	struct http_stats zero = {};
	struct http_stats *s = lookup_or_init(stats, &bk->series, &zero, &http_dropped, HTTP_DROP_STATS_MAP_FULL);
	if (!s)
		return;
	if (s->count == 0 || dur_ns < s->min_ns)
		s->min_ns = dur_ns;
	s->count += 1;
	s->sum_ns += dur_ns;
	if (dur_ns > s->max_ns)
		s->max_ns = dur_ns;
}

SEC("uprobe")
int go_http_serve_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_goroutine_key k = go_current_goroutine(ctx);
	__u64 now = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&http_inflight, &k, &now, BPF_ANY) != 0)
		count_drop(HTTP_DROP_INFLIGHT_FULL);
	return 0;
}

SEC("uprobe")
int go_http_finish_request(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct go_goroutine_key k = go_current_goroutine(ctx);
	__u64 *start = bpf_map_lookup_elem(&http_inflight, &k);
	if (!start)
		return 0;
	__u64 dur_ns = now - *start;
	bpf_map_delete_elem(&http_inflight, &k);

	__u32 slot = GO_COOKIE_SLOT(cookie);
	struct go_http_offsets *off = bpf_map_lookup_elem(&go_http_offsets, &slot);
	if (!off || !off->valid) {
		count_drop(HTTP_DROP_NO_OFFSETS);
		return 0;
	}

	struct http_bucket_key bk;
	__builtin_memset(&bk, 0, sizeof(bk));
	bk.series.pid = k.tgid;

	__u64 resp = GO_PARAM1(ctx);
	__u64 req = 0, url = 0;
	__s64 status = 0;
	if (bpf_probe_read_user(&req, sizeof(req), (void *)(resp + off->response_req)) != 0 ||
	    bpf_probe_read_user(&status, sizeof(status), (void *)(resp + off->response_status)) != 0 ||
	    bpf_probe_read_user(&url, sizeof(url), (void *)(req + off->request_url)) != 0) {
		count_drop(HTTP_DROP_READ_FAILED);
		return 0;
	}
	/* finishRequest writes the implicit 200 itself, after this probe. */
	bk.series.status = status == 0 ? 200 : (__u16)status;
	go_read_string(bk.series.method, HTTP_METHOD_MAX, req + off->request_method);
	__s64 path_len = go_read_string(bk.series.path, HTTP_PATH_MAX, url + off->url_path);
	bk.series.path_len = path_len < 0 ? 0 : (path_len > 0xffff ? 0xffff : (__u16)path_len);
	bk.bucket = exphist_index(dur_ns, hist_scale);

	int gen = generation_current(&http_control);
	record(GENERATION_SELECT(gen, http_buckets), GENERATION_SELECT(gen, http_stats), &bk, dur_ns);
	return 0;
}
