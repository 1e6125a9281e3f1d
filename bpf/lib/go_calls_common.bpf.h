/* What every Go call family of go_calls.bpf.o shares: calls in flight keyed by (tgid, kind,
 * goroutine or stream), the request each call belongs to (its own goroutine's, or through
 * g_root the request of the goroutine that spawned it), the histograms the calls land in, and
 * the per-binary offsets slot the attach cookie selects. Included once, by go_calls.bpf.c,
 * before the family headers (go_grpc, go_http_client, go_sql, go_redis, go_gc_pause,
 * go_lineage .bpf.h). */
#ifndef BURNWATCH_GO_CALLS_COMMON_BPF_H
#define BURNWATCH_GO_CALLS_COMMON_BPF_H

const volatile int hist_scale = 5;

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

/* goroutine → the request it works for. Written at every goroutine creation and never
 * ended (Go has no cheap goroutine-exit probe), so it stays LRU: an eviction costs the
 * attribution of a long-idle goroutine's later calls to a slow request, never a count. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, struct go_goroutine_key);
	__type(value, struct root_ref);
} g_root SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GO_CALLS_SLOTS);
	__type(key, __u32);
	__type(value, struct go_calls_offsets);
} go_calls_offsets SEC(".maps");

/* The generation the histograms below are written to (lib/aggregate.bpf.h). */
GENERATION_CONTROL_MAP(calls_control);

GENERATION_HASH_MAPS(call_buckets, struct call_bucket_key, __u64, 16384);
GENERATION_HASH_MAPS(call_stats, struct call_series, struct call_stats, 4096);

static __always_inline void count_drop(__u32 reason)
{
	drop_count(&calls_dropped, reason);
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

/* The binary's offsets for an entry probe's hit; 0 for a restarted stack (skipped) or an empty slot. */
static __always_inline struct go_calls_offsets *entry_offsets(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	return offsets_for(cookie);
}

static __always_inline __u64 read_u64(__u64 addr)
{
	__u64 v = 0;
	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

static __always_inline void record(struct call_series *series, __u64 dur_ns)
{
	struct call_bucket_key bk;
	__builtin_memcpy(&bk.series, series, sizeof(bk.series));
	bk.bucket = exphist_index(dur_ns, hist_scale);
	bk.pad = 0;
	int gen = generation_current(&calls_control);
	count_one(GENERATION_SELECT(gen, call_buckets), &bk, &calls_dropped, CALL_DROP_BUCKET_MAP_FULL);
	struct call_stats zero = {};
	struct call_stats *s = lookup_or_init(GENERATION_SELECT(gen, call_stats), &bk.series, &zero, &calls_dropped,
					      CALL_DROP_STATS_MAP_FULL);
	if (s)
		DURATION_STATS_ADD(s, dur_ns);
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

/* The call of `kind` in flight on the current goroutine: where the RET or end probe of a
 * synchronous call finds its start. */
static __always_inline struct call_inflight *goroutine_call(struct pt_regs *ctx, __u32 kind, struct call_key *k)
{
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->kind = kind;
	k->g = GO_GOROUTINE(ctx);
	return bpf_map_lookup_elem(&call_inflight, k);
}

static __always_inline void end_call(struct call_key *k, struct call_inflight *c)
{
	__u64 now = bpf_ktime_get_ns();
	record(&c->s, now - c->start_ns);
	add_subcall(k->tgid, c, now);
	bpf_map_delete_elem(&call_inflight, k);
}

#endif
