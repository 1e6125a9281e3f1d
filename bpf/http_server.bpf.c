// SPDX-License-Identifier: GPL-2.0
/* Go net/http server requests, aggregated in the kernel.
 *
 * Two entry uprobes per request, both on the stack-check `jbe` of the function's
 * prologue (a few µs a hit under virtualisation, against ~30 µs at +0 or at a RET):
 *   net/http.serverHandler.ServeHTTP      — the request starts (keyed by tgid + goroutine)
 *   net/http.(*response).finishRequest    — an HTTP/1 response is done; its receiver
 *                                           carries the request and the status (0 means 200)
 *   net/http.(*http2responseWriter).handlerDone
 *                                         — an HTTP/2 handler returned (h2 over TLS: the
 *                                           bundled server runs ServeHTTP on the stream's
 *                                           goroutine, so the start is the same probe)
 * golang.org/x/net/http2 (h2c, whose streams never pass ServeHTTP) starts a stream at
 * (*serverConn).runHandler, on the stream's own goroutine, and ends it at its handlerDone.
 * gRPC has its own transport: none of these run for a gRPC call.
 *
 * These are the only probes on these points: while deep probes are on for a process
 * (request_roots), its requests are also the roots of the slow-request breakdown, in the
 * maps go_calls.bpf.o shares (lib/go_request_roots.bpf.h), so go_calls.bpf.o attaches
 * nothing here.
 * No return probes: Go moves goroutine stacks and crashes on the trampoline address.
 *
 * Each request lands in a per-CPU exponential histogram keyed by (pid, method, path,
 * status, bucket), the path's id segments masked in the kernel (lib/http_path.bpf.h).
 * Kernel maps stay bounded whatever URLs clients send: a process may create at most
 * max_series_per_process new series per generation (series the agent already knows
 * under a route of their own, http_known, are exempt); beyond that its requests are
 * recorded under one overflow series per (method, status) — counted with their
 * duration, so totals stay exact — and counted as series_overflow.
 * The maps come in two generations, swapped through a map-in-map and drained exactly
 * once (lib/aggregate.bpf.h, shared with the other programs). In-flight requests live
 * in a plain hash map: a full map refuses (and counts) a start instead of evicting. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "go_abi.bpf.h"
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "duration_stats.bpf.h"
#include "http_server.h"
#include "http_path.bpf.h"
#include "go_calls.h"
#include "go_request_roots.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile int hist_scale = 5;
const volatile __u64 max_series_per_process = 512;

/* (tgid, goroutine) → the request it serves. */
INFLIGHT_MAP(http_inflight, struct go_goroutine_key, struct http_inflight, 16384);

/* Written by the agent: series known under a route of their own (exempt from the cap). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct http_known_key);
	__type(value, __u8);
} http_known SEC(".maps");

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
/* pid → new series created in the generation */
GENERATION_COUNTER_MAPS(http_new_series, __u32, 8192);

static __always_inline void count_drop(__u32 reason)
{
	drop_count(&http_dropped, reason);
}

/* Whether a series not yet in this generation's maps may have entries of its own. */
static __always_inline int series_admitted(int gen, struct http_series *series)
{
	struct http_known_key known = { .pid = series->pid };
	__builtin_memcpy(known.method, series->method, HTTP_METHOD_MAX);
	__builtin_memcpy(known.path, series->path, HTTP_PATH_MAX);
	if (bpf_map_lookup_elem(&http_known, &known))
		return 1;
	return cardinality_admit(GENERATION_SELECT(gen, http_new_series), series->pid, max_series_per_process,
				 &http_dropped, HTTP_DROP_SERIES_COUNTER_FULL);
}

/* In-place increment when the series exists, else insert; a full map is counted, not silent. */
static __always_inline void record(int gen, struct http_bucket_key *bk, __u64 dur_ns)
{
	void *stats = GENERATION_SELECT(gen, http_stats);
	struct http_stats *s = bpf_map_lookup_elem(stats, &bk->series);
	if (!s) {
		if (!series_admitted(gen, &bk->series)) {
			__builtin_memset(bk->series.path, 0, HTTP_PATH_MAX);
			bk->series.path_len = HTTP_PATH_LEN_OVERFLOW;
			count_drop(HTTP_DROP_SERIES_OVERFLOW);
		}
		struct http_stats zero = {};
		s = lookup_or_init(stats, &bk->series, &zero, &http_dropped, HTTP_DROP_STATS_MAP_FULL);
	}
	count_one(GENERATION_SELECT(gen, http_buckets), bk, &http_dropped, HTTP_DROP_BUCKET_MAP_FULL);
	if (s)
		DURATION_STATS_ADD(s, dur_ns);
}

/* The id of goroutine `g` (0 when unknown: no offset, or unreadable). */
static __always_inline __u64 goroutine_id(__u64 cookie, __u64 g)
{
	__u32 slot = GO_COOKIE_SLOT(cookie);
	struct go_http_offsets *off = bpf_map_lookup_elem(&go_http_offsets, &slot);
	__u64 goid = 0;
	if (off && off->g_goid)
		bpf_probe_read_user(&goid, sizeof(goid), (void *)(g + off->g_goid));
	return goid;
}

/* Whether the process's requests are roots of the slow breakdown now (its deep probes are on). */
static __always_inline __u32 is_root_process(__u32 tgid)
{
	return bpf_map_lookup_elem(&request_roots, &tgid) != 0;
}

SEC("uprobe")
int go_http_serve_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_goroutine_key k = go_current_goroutine(ctx);
	struct http_inflight v = { .start_ns = bpf_ktime_get_ns(), .root = is_root_process(k.tgid) };
	long err = bpf_map_update_elem(&http_inflight, &k, &v, BPF_NOEXIST);
	if (err == -AGG_EEXIST) {
		struct http_inflight *prev = bpf_map_lookup_elem(&http_inflight, &k);
		/* An x/net HTTP/2 stream started on this very goroutine: its own start stands. The
		 * same g under another id is a later goroutine (the runtime recycles g's): that
		 * stream never finished. */
		if (prev && prev->h2_stream && prev->goid && prev->goid == goroutine_id(cookie, k.g))
			return 0;
		count_drop(HTTP_DROP_INFLIGHT_UNFINISHED);
		err = bpf_map_update_elem(&http_inflight, &k, &v, BPF_ANY);
	}
	if (err)
		count_drop(HTTP_DROP_INFLIGHT_FULL);
	else if (v.root)
		request_start(&k, CALL_HTTP_SERVER);
	return 0;
}

/* golang.org/x/net/http2.(*serverConn).runHandler: a stream's handler starts on its own goroutine. */
SEC("uprobe")
int go_http2_stream_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_goroutine_key k = go_current_goroutine(ctx);
	struct http_inflight v = {
		.start_ns = bpf_ktime_get_ns(), .goid = goroutine_id(cookie, k.g), .h2_stream = 1, .root = is_root_process(k.tgid),
	};
	if (inflight_start(&http_inflight, &k, &v, &http_dropped, HTTP_DROP_INFLIGHT_FULL, HTTP_DROP_INFLIGHT_UNFINISHED) == 0 &&
	    v.root)
		request_start(&k, CALL_HTTP_SERVER);
	return 0;
}

/* Ends the goroutine's request: its duration, method, path and status (read from `req`
 * and the status word at `status_addr`) go into the histogram, unless the probe is
 * HTTP_COOKIE_ROOTS_ONLY (then they fill only the slow record of a root). */
static __always_inline void finish(struct go_http_offsets *off, __u64 req, __u64 status_addr, __u64 dur_ns, __u32 tgid,
				   struct slow_record *rec, __u64 cookie)
{
	if ((cookie & HTTP_COOKIE_ROOTS_ONLY) && !rec)
		return;
	struct http_bucket_key bk;
	__builtin_memset(&bk, 0, sizeof(bk));
	bk.series.pid = tgid;
	__u64 url = 0;
	__s64 status = 0;
	if (bpf_probe_read_user(&status, sizeof(status), (void *)status_addr) != 0 ||
	    bpf_probe_read_user(&url, sizeof(url), (void *)(req + off->request_url)) != 0) {
		count_drop(HTTP_DROP_READ_FAILED);
		return;
	}
	/* Both servers write the implicit 200 themselves, after the probe. */
	bk.series.status = status == 0 ? 200 : (__u16)status;
	go_read_string(bk.series.method, HTTP_METHOD_MAX, req + off->request_method);
	__s64 path_len = go_read_string(bk.series.path, HTTP_PATH_MAX, url + off->url_path);
	if (rec) {
		/* The raw path: user space makes the route, as for every slow record. */
		rec->status = bk.series.status;
		__builtin_memcpy(rec->method, bk.series.method, CALL_METHOD_MAX);
		__builtin_memcpy(rec->route, bk.series.path, CALL_ROUTE_MAX);
	}
	if (cookie & HTTP_COOKIE_ROOTS_ONLY)
		return;
	bk.series.path_len = http_path_mask(bk.series.path, path_len);
	bk.bucket = exphist_index(dur_ns, hist_scale);

	record(generation_current(&http_control), &bk, dur_ns);
}

/* The common start of an end probe: not a restarted stack, the goroutine's in-flight request
 * removed (its duration in *dur_ns) and the binary's offsets; 0 when any is missing. A request
 * that is also a root ends as one: *rec is its slow record when it was slow (the caller fills
 * and submits it), else 0. */
static __always_inline struct go_http_offsets *end_inflight(struct pt_regs *ctx, __u64 cookie, struct go_goroutine_key *k,
							     __u64 *dur_ns, struct slow_record **rec)
{
	*rec = 0;
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	*k = go_current_goroutine(ctx);
	struct http_inflight *v = bpf_map_lookup_elem(&http_inflight, k);
	if (!v)
		return 0;
	*dur_ns = now - v->start_ns;
	if (v->root) {
		__u64 root_dur = 0;
		*rec = request_end(k, CALL_HTTP_SERVER, &root_dur);
	}
	bpf_map_delete_elem(&http_inflight, k);

	__u32 slot = GO_COOKIE_SLOT(cookie);
	struct go_http_offsets *off = bpf_map_lookup_elem(&go_http_offsets, &slot);
	if (!off || !off->valid) {
		count_drop(HTTP_DROP_NO_OFFSETS);
		return 0;
	}
	return off;
}

SEC("uprobe")
int go_http_finish_request(struct pt_regs *ctx)
{
	struct go_goroutine_key k;
	__u64 dur_ns = 0;
	struct slow_record *rec;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct go_http_offsets *off = end_inflight(ctx, cookie, &k, &dur_ns, &rec);
	__u64 req = 0;
	if (off) {
		__u64 resp = GO_PARAM1(ctx);
		if (bpf_probe_read_user(&req, sizeof(req), (void *)(resp + off->response_req)) == 0)
			finish(off, req, resp + off->response_status, dur_ns, k.tgid, rec, cookie);
		else
			count_drop(HTTP_DROP_READ_FAILED);
	}
	if (rec)
		bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	return 0;
}

/* (*responseWriter).handlerDone(w) of either HTTP/2 server (the cookie says which). */
SEC("uprobe")
int go_http2_handler_done(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct go_goroutine_key k;
	__u64 dur_ns = 0;
	struct slow_record *rec;
	struct go_http_offsets *off = end_inflight(ctx, cookie, &k, &dur_ns, &rec);
	__u32 impl = (cookie & HTTP2_COOKIE_XNET) ? HTTP2_IMPL_XNET : HTTP2_IMPL_BUNDLED;
	if (off && !off->h2[impl].valid) {
		count_drop(HTTP_DROP_NO_OFFSETS);
	} else if (off) {
		struct go_http2_offsets *h2 = &off->h2[impl];
		__u64 rw = GO_PARAM1(ctx);
		__u64 rws = 0, req = 0;
		if (bpf_probe_read_user(&rws, sizeof(rws), (void *)(rw + h2->rw_rws)) == 0 &&
		    bpf_probe_read_user(&req, sizeof(req), (void *)(rws + h2->rws_req)) == 0)
			finish(off, req, rws + h2->rws_status, dur_ns, k.tgid, rec, cookie);
		else
			count_drop(HTTP_DROP_READ_FAILED);
	}
	if (rec)
		bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	return 0;
}
