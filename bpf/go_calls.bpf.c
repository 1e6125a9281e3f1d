// SPDX-License-Identifier: GPL-2.0
/* Go client calls (HTTP, gRPC, SQL, Redis), gRPC server calls, GC pauses, goroutine
 * lineage and the sub-call breakdown of slow server requests.
 *
 * Probe points (see agent/goinspect/probe-sets.ts; entry probes sit on the prologue's
 * stack-check `jbe`, a few µs a hit here, against ~30 µs at +0 or at a RET):
 *   gRPC server   grpc.(*Server).handleStream → transport.(*http2Server).WriteStatus   2 entries
 *   gRPC client   grpc.(*clientStream).newAttemptLocked → (*clientStream).finish        2 entries
 *   SQL           database/sql.(*DB).queryDC|execDC → (*DB).putConn                     2 entries
 *   HTTP client   net/http.(*Transport).roundTrip → its RETs                            1 entry + 1 RET
 *   Redis         redigo (*conn).DoWithTimeout → its RETs                               1 entry + 1 RET
 *   Redis         go-redis v5 (*baseClient).defaultProcess → its RETs                   1 entry + 1 RET
 *   GC pause      runtime.stopTheWorldWithSema → runtime.startTheWorldWithSema          2 entries per STW
 *   lineage       runtime.gostartcallfn (once per goroutine created)                    1 entry
 *   request root  net/http.serverHandler.ServeHTTP → (*response).finishRequest          2 entries
 * The HTTP client and Redis have no later function that runs on the caller's goroutine
 * after the reply in every path, so they end at RETs (their results are in AX.. there).
 * No return probes: Go moves goroutine stacks and crashes on the trampoline address.
 *
 * Call state is keyed by (tgid, kind, goroutine): these calls are synchronous on the
 * caller's goroutine — except gRPC client calls, keyed by their *clientStream, because a
 * stream may end on another goroutine. The request a call belongs to is resolved when the
 * call starts, on the caller's goroutine. A server request is keyed by its goroutine; goroutines it spawns
 * (transitively) map to it through `g_root`, written at goroutine creation, so their
 * calls become its sub-calls. A request sequence number guards against a goroutine
 * (or a recycled g) serving a later request. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "go_abi.bpf.h"
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "go_calls.h"

char LICENSE[] SEC("license") = "GPL";

const volatile int hist_scale = 5;
const volatile __u64 slow_default_ns = 200000000ULL;

#if defined(__TARGET_ARCH_x86)
#define GO_PARAM5(ctx) ((ctx)->si)
#define GO_PARAM6(ctx) ((ctx)->r8)
#define GO_PARAM7(ctx) ((ctx)->r9)
#define GO_PARAM8(ctx) ((ctx)->r10)
#define GO_PARAM9(ctx) ((ctx)->r11)
#elif defined(__TARGET_ARCH_arm64)
#define GO_PARAM5(ctx) ((ctx)->regs[4])
#define GO_PARAM6(ctx) ((ctx)->regs[5])
#define GO_PARAM7(ctx) ((ctx)->regs[6])
#define GO_PARAM8(ctx) ((ctx)->regs[7])
#define GO_PARAM9(ctx) ((ctx)->regs[8])
#endif

struct call_key {
	__u32 tgid;
	__u32 kind;
	__u64 g;
};

struct root_ref {
	__u64 root_g;
	__u64 seq;
};

struct call_inflight {
	__u64 start_ns;
	struct root_ref root; /* root_g 0: the call is not part of a server request */
	struct call_series s;
};

/* In-flight state lives in plain hash maps (lib/aggregate.bpf.h, INFLIGHT_MAP): a full
 * map refuses and counts a start; entries whose end never comes are swept by the agent. */
INFLIGHT_MAP(call_inflight, struct call_key, struct call_inflight, 16384);
INFLIGHT_MAP(requests, struct go_goroutine_key, struct request_state, 4096);

/* goroutine → the request it works for. Written at every goroutine creation and never
 * ended (Go has no cheap goroutine-exit probe), so it stays LRU: an eviction costs the
 * attribution of a long-idle goroutine's later calls to a slow request, never a count. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct go_goroutine_key);
	__type(value, struct root_ref);
} g_root SEC(".maps");

/* tgid → STW start, for GC stop-the-world pauses (one at a time per process). */
INFLIGHT_MAP(stw_inflight, __u32, struct call_inflight, 4096);

/* pid → slow threshold in ns (absent: slow_default_ns). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} slow_threshold SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GO_CALLS_SLOTS);
	__type(key, __u32);
	__type(value, struct go_calls_offsets);
} go_calls_offsets SEC(".maps");

/* The generation the histograms below are written to (lib/aggregate.bpf.h). */
GENERATION_CONTROL_MAP(calls_control);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CALL_DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} calls_dropped SEC(".maps");

/* Scratch space for values too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct request_state);
} request_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} request_seq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} slow_requests SEC(".maps");

GENERATION_HASH_MAPS(call_buckets, struct call_bucket_key, __u64, 16384);
GENERATION_HASH_MAPS(call_stats, struct call_series, struct call_stats, 4096);

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&calls_dropped, &reason);
	if (n)
		*n += 1;
}

static __always_inline struct go_calls_offsets *offsets_for(__u64 cookie)
{
	__u32 slot = GO_COOKIE_SLOT(cookie);
	struct go_calls_offsets *off = bpf_map_lookup_elem(&go_calls_offsets, &slot);
	if (!off || !off->valid) {
		count_drop(CALL_DROP_NO_OFFSETS);
		return 0;
	}
	return off;
}

static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline void record_into(void *buckets, void *stats, struct call_bucket_key *bk, __u64 dur_ns)
{
	__u64 *c = bpf_map_lookup_elem(buckets, bk);
	if (c) {
		*c += 1;
	} else {
		__u64 one = 1;
		if (bpf_map_update_elem(buckets, bk, &one, BPF_NOEXIST) != 0) {
			c = bpf_map_lookup_elem(buckets, bk);
			if (c)
				*c += 1;
			else
				count_drop(CALL_DROP_BUCKET_MAP_FULL);
		}
	}
	struct call_stats *s = bpf_map_lookup_elem(stats, &bk->series);
	if (!s) {
		struct call_stats init = {};
		if (bpf_map_update_elem(stats, &bk->series, &init, BPF_NOEXIST) != 0 &&
		    !bpf_map_lookup_elem(stats, &bk->series)) {
			count_drop(CALL_DROP_STATS_MAP_FULL);
			return;
		}
		s = bpf_map_lookup_elem(stats, &bk->series);
		if (!s)
			return;
	}
	if (s->count == 0 || dur_ns < s->min_ns)
		s->min_ns = dur_ns;
	s->count += 1;
	s->sum_ns += dur_ns;
	if (dur_ns > s->max_ns)
		s->max_ns = dur_ns;
}

static __always_inline void record(struct call_series *series, __u64 dur_ns)
{
	struct call_bucket_key bk;
	__builtin_memcpy(&bk.series, series, sizeof(bk.series));
	bk.bucket = exphist_index(dur_ns, hist_scale);
	bk.pad = 0;
	int gen = generation_current(&calls_control);
	record_into(GENERATION_SELECT(gen, call_buckets), GENERATION_SELECT(gen, call_stats), &bk, dur_ns);
}

/* The request goroutine `g` works for (its own, or its spawning ancestor's), as a reference. */
static __always_inline void current_request(__u32 tgid, __u64 g, struct root_ref *out)
{
	struct go_goroutine_key k = { .tgid = tgid, .g = g };
	struct request_state *st = bpf_map_lookup_elem(&requests, &k);
	if (st) {
		out->root_g = g;
		out->seq = st->seq;
		return;
	}
	struct root_ref *ref = bpf_map_lookup_elem(&g_root, &k);
	if (ref) {
		out->root_g = ref->root_g;
		out->seq = ref->seq;
	}
}

static __always_inline void add_subcall(__u32 tgid, struct call_inflight *c, __u64 end_ns)
{
	if (!c->root.root_g)
		return;
	struct go_goroutine_key k = { .tgid = tgid, .g = c->root.root_g };
	struct request_state *st = bpf_map_lookup_elem(&requests, &k);
	/* Gone, or a later request on the same goroutine: not ours any more. */
	if (!st || st->seq != c->root.seq)
		return;
	/* Not atomic (clang here targets BPF v1, whose XADD returns nothing): goroutines of
	 * one request ending calls at the same instant on two CPUs may share a slot. */
	__u32 idx = st->nsub;
	st->nsub = idx + 1;
	if (idx >= SLOW_SUBCALLS_MAX) {
		count_drop(CALL_DROP_SUBCALLS_OVER);
		return;
	}
	struct subcall *sc = &st->subs[idx];
	sc->kind = c->s.kind;
	sc->error = c->s.error;
	sc->status = c->s.status;
	sc->ip4 = c->s.ip4;
	sc->port = c->s.port;
	sc->start_offset_ns = c->start_ns > st->start_ns ? c->start_ns - st->start_ns : 0;
	sc->dur_ns = end_ns - c->start_ns;
	__builtin_memcpy(sc->op, c->s.op, CALL_OP_MAX);
	__builtin_memcpy(sc->peer, c->s.peer, CALL_PEER_MAX);
}

/* Reads the remote IPv4 address and port of a net.Conn interface holding a *net.TCPConn. */
static __always_inline void read_tcp_peer(struct go_calls_offsets *off, __u64 itab, __u64 data, struct call_series *s)
{
	if (!off->itab_tcpconn || itab != off->itab_tcpconn || !data)
		return;
	__u64 fd = read_u64(data + off->tcpconn_fd);
	if (!fd)
		return;
	/* raddr is a net.Addr interface; a TCPConn's is a *net.TCPAddr (data word at +8). */
	__u64 addr = read_u64(fd + off->netfd_raddr + 8);
	if (!addr)
		return;
	struct go_string ip = {};
	if (bpf_probe_read_user(&ip, sizeof(ip), (void *)(addr + off->tcpaddr_ip)) != 0)
		return;
	__u32 v4 = 0;
	if (ip.len == 16)
		bpf_probe_read_user(&v4, 4, (void *)(ip.ptr + 12));
	else if (ip.len == 4)
		bpf_probe_read_user(&v4, 4, (void *)ip.ptr);
	__s64 port = 0;
	bpf_probe_read_user(&port, sizeof(port), (void *)(addr + off->tcpaddr_port));
	s->ip4 = v4;
	s->port = (__u16)port;
}

/* Copies the last `cap` bytes of a Go string: a gRPC target ends with its host:port
 * (etcd's are "endpoint://client-<uuid>/host:port"). */
static __always_inline void go_read_string_tail(char *dst, __u32 cap, __u64 header_addr)
{
	struct go_string s = {};
	if (bpf_probe_read_user(&s, sizeof(s), (void *)header_addr) != 0 || s.len <= 0)
		return;
	__u64 skip = s.len > cap ? s.len - cap : 0;
	__u32 n = s.len < cap ? (__u32)s.len : cap;
	n &= 0x3f;
	if (n > cap)
		n = cap;
	if (n)
		bpf_probe_read_user(dst, n, (void *)(s.ptr + skip));
}

/* Starts a call keyed by `key` (the goroutine, or the gRPC stream) made on goroutine `g`.
 * BPF_NOEXIST keeps the first start when the same key starts again (a gRPC retry). */
static __always_inline struct call_inflight *new_call(__u32 kind, struct call_key *k, __u64 key, __u64 g, __u64 flags)
{
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->kind = kind;
	k->g = key;
	struct call_inflight init = {};
	init.start_ns = bpf_ktime_get_ns();
	init.s.pid = k->tgid;
	init.s.kind = kind;
	current_request(k->tgid, g, &init.root);
	if (flags == BPF_NOEXIST) {
		long err = bpf_map_update_elem(&call_inflight, k, &init, BPF_NOEXIST);
		if (err == -AGG_EEXIST)
			return 0; /* a retry: the first start stands */
		if (err) {
			count_drop(CALL_DROP_INFLIGHT_FULL);
			return 0;
		}
	} else if (inflight_start(&call_inflight, k, &init, &calls_dropped, CALL_DROP_INFLIGHT_FULL,
				  CALL_DROP_INFLIGHT_UNFINISHED) != 0) {
		return 0;
	}
	return bpf_map_lookup_elem(&call_inflight, k);
}

static __always_inline void end_call(struct call_key *k, struct call_inflight *c)
{
	__u64 now = bpf_ktime_get_ns();
	record(&c->s, now - c->start_ns);
	add_subcall(k->tgid, c, now);
	bpf_map_delete_elem(&call_inflight, k);
}

/* A gRPC status code from an `error` interface: nil → OK, *status.Error → its code,
 * io.EOF (a stream's normal end) → OK, anything else → Unknown (as status.FromError does). */
static __always_inline __u16 grpc_code_of(struct go_calls_offsets *off, __u64 itab, __u64 data)
{
	if (!itab)
		return 0;
	if (off->itab_status_error && itab == off->itab_status_error) {
		__u64 spb = read_u64(data + off->status_error_e);
		__s32 code = 0;
		if (spb)
			bpf_probe_read_user(&code, sizeof(code), (void *)(spb + off->spb_code));
		return (__u16)code;
	}
	if (off->io_eof && data == read_u64(off->io_eof + 8))
		return 0;
	return 2;
}

/* ---- server requests (the roots of sub-call attribution) ---- */

static __always_inline void start_request(struct pt_regs *ctx, __u32 kind)
{
	struct go_goroutine_key k = go_current_goroutine(ctx);
	__u32 zero = 0;
	struct request_state *st = bpf_map_lookup_elem(&request_scratch, &zero);
	__u64 *seq = bpf_map_lookup_elem(&request_seq, &zero);
	if (!st || !seq)
		return;
	/* Unique across CPUs: the CPU number in the low bits. */
	*seq += 1;
	st->seq = (*seq << 8) | (bpf_get_smp_processor_id() & 0xff);
	st->start_ns = bpf_ktime_get_ns();
	st->nsub = 0;
	st->kind = kind;
	inflight_start(&requests, &k, st, &calls_dropped, CALL_DROP_INFLIGHT_FULL, CALL_DROP_INFLIGHT_UNFINISHED);
}

/* Ends the request of goroutine `k`; a slow one leaves a ring-buffer record whose
 * route/method/status the caller fills. Returns the record (to submit) or 0. */
static __always_inline struct slow_record *end_request(struct go_goroutine_key *k, __u8 kind, __u64 *dur_out)
{
	struct request_state *st = bpf_map_lookup_elem(&requests, k);
	if (!st)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 dur = now - st->start_ns;
	*dur_out = dur;
	__u64 threshold = slow_default_ns;
	__u64 *t = bpf_map_lookup_elem(&slow_threshold, &k->tgid);
	if (t)
		threshold = *t;
	struct slow_record *rec = 0;
	if (dur > threshold) {
		rec = bpf_ringbuf_reserve(&slow_requests, sizeof(*rec), 0);
		if (rec) {
			rec->pid = k->tgid;
			rec->kind = kind;
			rec->pad0 = 0;
			rec->status = 0;
			rec->nsub = st->nsub;
			rec->pad1 = 0;
			rec->start_ns = st->start_ns;
			rec->dur_ns = dur;
			__builtin_memset(rec->method, 0, sizeof(rec->method));
			__builtin_memset(rec->route, 0, sizeof(rec->route));
			/* Slots past nsub hold stale bytes; user space reads only the first nsub. */
			bpf_probe_read_kernel(rec->subs, sizeof(rec->subs), st->subs);
		} else {
			count_drop(CALL_DROP_RINGBUF_FULL);
		}
	}
	bpf_map_delete_elem(&requests, k);
	return rec;
}

SEC("uprobe")
int go_req_http_start(struct pt_regs *ctx)
{
	if (go_probe_is_restart(ctx, bpf_get_attach_cookie(ctx)))
		return 0;
	start_request(ctx, CALL_HTTP_SERVER);
	return 0;
}

/* The common start of an HTTP server end probe: not a restarted stack, and the goroutine's
 * request ended (its slow record, or 0 when it was not slow or had none). */
static __always_inline struct slow_record *end_http_request(struct pt_regs *ctx, __u64 cookie)
{
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_goroutine_key k = go_current_goroutine(ctx);
	__u64 dur = 0;
	return end_request(&k, CALL_HTTP_SERVER, &dur);
}

/* The request's status (read at status_addr), method and path into the slow record. */
static __always_inline void fill_http_record(struct slow_record *rec, struct go_calls_offsets *off, __u64 req,
					     __u64 status_addr)
{
	__s64 status = 0;
	bpf_probe_read_user(&status, sizeof(status), (void *)status_addr);
	rec->status = status == 0 ? 200 : (__u16)status;
	go_read_string(rec->method, CALL_METHOD_MAX, req + off->request_method);
	__u64 url = read_u64(req + off->request_url);
	go_read_string(rec->route, CALL_ROUTE_MAX, url + off->url_path);
}

SEC("uprobe")
int go_req_http_end(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct slow_record *rec = end_http_request(ctx, cookie);
	if (!rec)
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (off) {
		__u64 resp = GO_PARAM1(ctx);
		fill_http_record(rec, off, read_u64(resp + off->resp_req), resp + off->resp_status);
	}
	bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	return 0;
}

/* (*responseWriter).handlerDone(w) of an HTTP/2 server (bundled or x/net, by the cookie):
 * the end of a request whose ServeHTTP started it on the stream's goroutine (h2 over TLS). */
SEC("uprobe")
int go_req_http2_end(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct slow_record *rec = end_http_request(ctx, cookie);
	if (!rec)
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	__u32 impl = (cookie & GO_CALLS_COOKIE_H2_XNET) ? 1 : 0;
	if (off && off->h2[impl].valid) {
		__u64 rws = read_u64(GO_PARAM1(ctx) + off->h2[impl].rw_rws);
		fill_http_record(rec, off, read_u64(rws + off->h2[impl].rws_req), rws + off->h2[impl].rws_status);
	}
	bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	return 0;
}

/* handleStream(s, t ServerTransport, stream *Stream, trInfo): runs on its own goroutine
 * per stream, which also runs the handler and writes the status. */
SEC("uprobe")
int go_grpc_server_start(struct pt_regs *ctx)
{
	if (go_probe_is_restart(ctx, bpf_get_attach_cookie(ctx)))
		return 0;
	start_request(ctx, CALL_GRPC_SERVER);
	return 0;
}

/* (*http2Server).WriteStatus(t, s *Stream, st *status.Status) */
SEC("uprobe")
int go_grpc_server_end(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_goroutine_key k = go_current_goroutine(ctx);
	struct request_state *st = bpf_map_lookup_elem(&requests, &k);
	if (!st)
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off) {
		bpf_map_delete_elem(&requests, &k);
		return 0;
	}
	struct call_series s;
	__builtin_memset(&s, 0, sizeof(s));
	s.pid = k.tgid;
	s.kind = CALL_GRPC_SERVER;
	go_read_string(s.op, CALL_OP_MAX, GO_PARAM2(ctx) + off->stream_method);
	__u64 status = GO_PARAM3(ctx);
	__u64 spb = status ? read_u64(status + off->status_s) : 0;
	__s32 code = 0;
	if (spb)
		bpf_probe_read_user(&code, sizeof(code), (void *)(spb + off->spb_code));
	s.status = (__u16)code;
	s.error = code != 0;
	__u64 dur = 0;
	struct slow_record *rec = end_request(&k, CALL_GRPC_SERVER, &dur);
	record(&s, dur);
	if (rec) {
		rec->status = s.status;
		__builtin_memcpy(rec->route, s.op, CALL_OP_MAX);
		bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	}
	return 0;
}

/* ---- gRPC client (unary and streams): (*clientStream).newAttemptLocked(cs, …), called
 * by newClientStream on the caller's goroutine (and again on a retry), starts the call;
 * (*clientStream).finish(cs, err) ends it on whatever goroutine ends the stream. ---- */

SEC("uprobe")
int go_grpc_client_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off)
		return 0;
	__u64 cs = GO_PARAM1(ctx);
	struct call_key k;
	struct call_inflight *c = new_call(CALL_GRPC_CLIENT, &k, cs, GO_GOROUTINE(ctx), BPF_NOEXIST);
	if (!c)
		return 0;
	__u64 hdr = read_u64(cs + off->clientstream_callhdr);
	if (hdr)
		go_read_string(c->s.op, CALL_OP_MAX - 1, hdr + off->callhdr_method);
	__u64 cc = read_u64(cs + off->clientstream_cc);
	if (cc)
		go_read_string_tail(c->s.peer, CALL_PEER_MAX - 1, cc + off->clientconn_target);
	return 0;
}

/* (*clientStream).finish(cs, err error) */
SEC("uprobe")
int go_grpc_client_end(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct call_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .kind = CALL_GRPC_CLIENT, .g = GO_PARAM1(ctx) };
	struct call_inflight *c = bpf_map_lookup_elem(&call_inflight, &k);
	if (!c)
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (off) {
		c->s.status = grpc_code_of(off, GO_PARAM2(ctx), GO_PARAM3(ctx));
		c->s.error = c->s.status != 0;
	}
	end_call(&k, c);
	return 0;
}

/* ---- HTTP client: (*Transport).roundTrip(t, req) → RETs with (resp, err) ---- */

SEC("uprobe")
int go_http_client_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off)
		return 0;
	struct call_key k;
	struct call_inflight *c = new_call(CALL_HTTP_CLIENT, &k, GO_GOROUTINE(ctx), GO_GOROUTINE(ctx), BPF_ANY);
	if (!c)
		return 0;
	__u64 req = GO_PARAM2(ctx);
	go_read_string(c->s.op, CALL_METHOD_MAX, req + off->request_method);
	__u64 url = read_u64(req + off->request_url);
	if (url)
		go_read_string(c->s.peer, CALL_PEER_MAX - 1, url + off->url_host);
	return 0;
}

SEC("uprobe")
int go_http_client_ret(struct pt_regs *ctx)
{
	struct call_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .kind = CALL_HTTP_CLIENT, .g = GO_GOROUTINE(ctx) };
	struct call_inflight *c = bpf_map_lookup_elem(&call_inflight, &k);
	if (!c)
		return 0;
	struct go_calls_offsets *off = offsets_for(bpf_get_attach_cookie(ctx));
	__u64 resp = GO_PARAM1(ctx);
	c->s.error = GO_PARAM2(ctx) != 0;
	if (off && resp) {
		__s64 code = 0;
		bpf_probe_read_user(&code, sizeof(code), (void *)(resp + off->response_status_code));
		c->s.status = (__u16)code;
	}
	end_call(&k, c);
	return 0;
}

/* ---- SQL: queryDC/execDC → putConn(db, dc, err, resetSession) ---- */

static __always_inline void sql_start(struct pt_regs *ctx, __u64 dc, __u64 qptr, __s64 qlen)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off)
		return;
	struct call_key k;
	struct call_inflight *c = new_call(CALL_SQL, &k, GO_GOROUTINE(ctx), GO_GOROUTINE(ctx), BPF_ANY);
	if (!c)
		return;
	/* Only the operation word is kept: the statement is cut at its first space, so no
	 * literal reaches a map key. */
	char buf[16] = {};
	__u32 n = qlen < (__s64)sizeof(buf) ? (__u32)qlen : sizeof(buf);
	if (qlen > 0)
		bpf_probe_read_user(buf, n & 0x1f, (void *)qptr);
	for (int i = 0; i < (int)sizeof(buf); i++) {
		if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '(' || buf[i] == ';')
			break;
		c->s.op[i] = buf[i];
	}
	__u64 itab = read_u64(dc + off->driverconn_ci);
	__u64 data = read_u64(dc + off->driverconn_ci + 8);
	c->s.driver = itab;
	if (off->itab_pq_conn && itab == off->itab_pq_conn) {
		__u64 nitab = read_u64(data + off->pq_conn_c);
		__u64 ndata = read_u64(data + off->pq_conn_c + 8);
		read_tcp_peer(off, nitab, ndata, &c->s);
	}
}

/* queryDC(db, ctx, txctx, dc, releaseConn, query string, args) */
SEC("uprobe")
int go_sql_query_start(struct pt_regs *ctx)
{
	sql_start(ctx, GO_PARAM6(ctx), GO_PARAM8(ctx), (__s64)GO_PARAM9(ctx));
	return 0;
}

/* execDC(db, ctx, dc, release, query string, args) */
SEC("uprobe")
int go_sql_exec_start(struct pt_regs *ctx)
{
	sql_start(ctx, GO_PARAM4(ctx), GO_PARAM6(ctx), (__s64)GO_PARAM7(ctx));
	return 0;
}

SEC("uprobe")
int go_sql_end(struct pt_regs *ctx)
{
	if (go_probe_is_restart(ctx, bpf_get_attach_cookie(ctx)))
		return 0;
	struct call_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .kind = CALL_SQL, .g = GO_GOROUTINE(ctx) };
	struct call_inflight *c = bpf_map_lookup_elem(&call_inflight, &k);
	if (!c)
		return 0;
	c->s.error = GO_PARAM3(ctx) != 0;
	end_call(&k, c);
	return 0;
}

/* ---- Redis (redigo): (*conn).DoWithTimeout(c, timeout, cmd string, args...) → RETs ---- */

SEC("uprobe")
int go_redis_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	__s64 len = (__s64)GO_PARAM4(ctx);
	if (len <= 0) /* Do("") only flushes (the pool does it on Close) */
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off)
		return 0;
	struct call_key k;
	struct call_inflight *c = new_call(CALL_REDIS, &k, GO_GOROUTINE(ctx), GO_GOROUTINE(ctx), BPF_ANY);
	if (!c)
		return 0;
	__u32 n = len < 16 ? (__u32)len : 16;
	bpf_probe_read_user(c->s.op, n & 0x1f, (void *)GO_PARAM3(ctx));
	__u64 conn = GO_PARAM1(ctx);
	read_tcp_peer(off, read_u64(conn + off->redigo_conn_conn), read_u64(conn + off->redigo_conn_conn + 8), &c->s);
	return 0;
}

SEC("uprobe")
int go_redis_ret(struct pt_regs *ctx)
{
	struct call_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .kind = CALL_REDIS, .g = GO_GOROUTINE(ctx) };
	struct call_inflight *c = bpf_map_lookup_elem(&call_inflight, &k);
	if (!c)
		return 0;
	c->s.error = GO_PARAM3(ctx) != 0; /* results: reply (AX, BX), err (CX, DI) */
	end_call(&k, c);
	return 0;
}

/* ---- Redis (go-redis v5): (*baseClient).defaultProcess(c, cmd Cmder) → RETs (err) ---- */

SEC("uprobe")
int go_redis5_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off)
		return 0;
	/* cmd is an interface (BX itab, CX data); every Cmd embeds baseCmd, whose _args[0]
	 * is an interface{} holding the command name as a string. */
	__u64 cmd = GO_PARAM3(ctx);
	__u64 args = read_u64(cmd + off->redis5_cmd_args);
	if (!args || (__s64)read_u64(cmd + off->redis5_cmd_args + 8) <= 0)
		return 0;
	struct call_key k;
	struct call_inflight *c = new_call(CALL_REDIS, &k, GO_GOROUTINE(ctx), GO_GOROUTINE(ctx), BPF_ANY);
	if (!c)
		return 0;
	go_read_string(c->s.op, 16, read_u64(args + 8));
	__u64 opt = read_u64(GO_PARAM1(ctx) + off->redis5_client_opt);
	if (opt)
		go_read_string(c->s.peer, CALL_PEER_MAX - 1, opt + off->redis5_options_addr);
	return 0;
}

/* redis.Nil (a RedisError "redis: nil") only says the key does not exist: not an error. */
static __always_inline int redis5_is_nil(struct go_calls_offsets *off, __u64 itab, __u64 data)
{
	if (!off || !off->itab_redis5_error || itab != off->itab_redis5_error || !data)
		return 0;
	char buf[10] = {};
	if (go_read_string(buf, sizeof(buf), data) != sizeof(buf))
		return 0;
	const char nil[10] = "redis: nil";
	for (int i = 0; i < (int)sizeof(buf); i++)
		if (buf[i] != nil[i])
			return 0;
	return 1;
}

SEC("uprobe")
int go_redis5_ret(struct pt_regs *ctx)
{
	struct call_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .kind = CALL_REDIS, .g = GO_GOROUTINE(ctx) };
	struct call_inflight *c = bpf_map_lookup_elem(&call_inflight, &k);
	if (!c)
		return 0;
	__u64 itab = GO_PARAM1(ctx); /* result: err (AX itab, BX data) */
	c->s.error = itab != 0 && !redis5_is_nil(offsets_for(bpf_get_attach_cookie(ctx)), itab, GO_PARAM2(ctx));
	end_call(&k, c);
	return 0;
}

/* ---- GC stop-the-world pauses ---- */

/* stopTheWorldWithSema runs on the system stack (g0); g0.m.preemptoff says who stopped
 * the world: "" (gcStart, sweep termination) or "gcing" (gcMarkDone) for the GC, a
 * reason string for everything else (ReadMemStats, GOMAXPROCS, …), which is skipped. */
SEC("uprobe")
int go_gc_stw_start(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off)
		return 0;
	__u64 m = read_u64(GO_GOROUTINE(ctx) + off->g_m);
	struct go_string reason = {};
	if (!m || bpf_probe_read_user(&reason, sizeof(reason), (void *)(m + off->m_preemptoff)) != 0)
		return 0;
	__u16 phase;
	if (reason.len == 0) {
		phase = 1;
	} else if (reason.len == 5) {
		char r[5] = {};
		bpf_probe_read_user(r, 5, (void *)reason.ptr);
		if (r[0] != 'g' || r[1] != 'c' || r[2] != 'i' || r[3] != 'n' || r[4] != 'g')
			return 0;
		phase = 2;
	} else {
		return 0;
	}
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct call_inflight c = {};
	c.start_ns = bpf_ktime_get_ns();
	c.s.pid = tgid;
	c.s.kind = CALL_GC_PAUSE;
	c.s.status = phase;
	inflight_start(&stw_inflight, &tgid, &c, &calls_dropped, CALL_DROP_INFLIGHT_FULL, CALL_DROP_INFLIGHT_UNFINISHED);
	return 0;
}

SEC("uprobe")
int go_gc_stw_end(struct pt_regs *ctx)
{
	if (go_probe_is_restart(ctx, bpf_get_attach_cookie(ctx)))
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct call_inflight *c = bpf_map_lookup_elem(&stw_inflight, &tgid);
	if (!c)
		return 0;
	record(&c->s, bpf_ktime_get_ns() - c->start_ns);
	bpf_map_delete_elem(&stw_inflight, &tgid);
	return 0;
}

/* ---- goroutine lineage: gostartcallfn(&newg.sched, fn), called once by newproc1 ----
 * It runs on g0 while m.curg is still the goroutine executing the `go` statement, and its
 * first argument points into the new g, so one probe knows both parent and child. */
SEC("uprobe")
int go_lineage(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_goroutine_key child = { .tgid = tgid, .g = GO_PARAM1(ctx) - off->g_sched };
	__u64 m = read_u64(GO_GOROUTINE(ctx) + off->g_m);
	__u64 parent = m ? read_u64(m + off->m_curg) : 0;
	struct go_goroutine_key pk = { .tgid = tgid, .g = parent };
	struct root_ref ref = {};
	struct request_state *st = parent ? bpf_map_lookup_elem(&requests, &pk) : 0;
	if (st) {
		ref.root_g = parent;
		ref.seq = st->seq;
	} else {
		struct root_ref *pref = parent ? bpf_map_lookup_elem(&g_root, &pk) : 0;
		if (!pref) {
			/* A recycled g must not keep an old request's attribution. */
			bpf_map_delete_elem(&g_root, &child);
			return 0;
		}
		ref = *pref;
	}
	bpf_map_update_elem(&g_root, &child, &ref, BPF_ANY);
	return 0;
}
