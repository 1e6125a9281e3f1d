/* Server requests as the roots of sub-call attribution (the slow-request breakdown), shared
 * by two objects: go_calls.bpf.o starts and ends gRPC server requests and attributes client
 * calls to them; http_server.bpf.o, which owns the HTTP server probes, starts and ends the HTTP
 * ones while deep probes are on for the process (request_roots). The maps below are the same
 * maps in both: the agent loads http_server.bpf.o first and go_calls.bpf.o reuses them
 * (BpfObject.reuseMap), so each HTTP server probe point carries one uprobe whoever needs it.
 * Include after vmlinux.h, bpf_helpers.h, aggregate.bpf.h, go_abi.bpf.h and go_calls.h. */
#ifndef BURNWATCH_GO_REQUEST_ROOTS_BPF_H
#define BURNWATCH_GO_REQUEST_ROOTS_BPF_H

/* What a request over its threshold is, when neither the process nor the default (key 0,
 * written by the agent) has one. */
#define GO_SLOW_DEFAULT_NS 200000000ULL

INFLIGHT_MAP(requests, struct go_goroutine_key, struct request_state, 4096);

/* pid → slow threshold in ns; key 0: the default for every other pid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} slow_threshold SEC(".maps");

/* pid → 1 while its HTTP requests are roots (its deep probes are on): http_server.bpf.c
 * checks it when a request starts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} request_roots SEC(".maps");

DROP_COUNTER_MAP(calls_dropped, CALL_DROP_REASONS);

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

static __always_inline void request_start(struct go_goroutine_key *k, __u32 kind)
{
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
	inflight_start(&requests, k, st, &calls_dropped, CALL_DROP_INFLIGHT_FULL, CALL_DROP_INFLIGHT_UNFINISHED);
}

/* Ends the request of goroutine `k`; a slow one leaves a ring-buffer record whose
 * route/method/status the caller fills, then submits. Returns the record or 0. */
static __always_inline struct slow_record *request_end(struct go_goroutine_key *k, __u8 kind, __u64 *dur_out)
{
	struct request_state *st = bpf_map_lookup_elem(&requests, k);
	if (!st)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 dur = now - st->start_ns;
	*dur_out = dur;
	__u64 *t = bpf_map_lookup_elem(&slow_threshold, &k->tgid);
	if (!t) {
		__u32 any = 0;
		t = bpf_map_lookup_elem(&slow_threshold, &any);
	}
	__u64 threshold = t ? *t : GO_SLOW_DEFAULT_NS;
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
			drop_count(&calls_dropped, CALL_DROP_RINGBUF_FULL);
		}
	}
	bpf_map_delete_elem(&requests, k);
	return rec;
}

#endif
