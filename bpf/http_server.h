/* Layout shared by bpf/http_server.bpf.c and its decoder in agent/collectors/http-server.ts. */
#ifndef BURNWATCH_HTTP_SERVER_H
#define BURNWATCH_HTTP_SERVER_H

#define HTTP_METHOD_MAX 8
#define HTTP_PATH_MAX 64
#define GO_BINARY_SLOTS 256

/* path_len of the overflow series: the process had more distinct series in this
 * generation than max_series_per_process; path is empty, method and status are kept. */
#define HTTP_PATH_LEN_OVERFLOW 0xffff

/* One series of the in-kernel histogram: a process, method, path (id segments masked
 * in the kernel, lib/http_path.bpf.h) and status. Paths become routes (and their
 * cardinality is capped again) in user space. */
struct http_series {
	__u32 pid;
	__u16 status;
	__u16 path_len; /* of path as masked; HTTP_PATH_MAX + 1: truncated; HTTP_PATH_LEN_OVERFLOW */
	char method[HTTP_METHOD_MAX];
	char path[HTTP_PATH_MAX];
};

/* A (process, method, path) the agent has seen under a route of its own: it never
 * counts against the per-process cap of new series. */
struct http_known_key {
	__u32 pid;
	__u32 pad;
	char method[HTTP_METHOD_MAX];
	char path[HTTP_PATH_MAX];
};

struct http_bucket_key {
	struct http_series series;
	__s32 bucket; /* exponential-histogram index of the duration in seconds */
	__u32 pad;
};

struct http_stats {
	__u64 count;
	__u64 sum_ns;
	__u64 min_ns;
	__u64 max_ns;
};

/* HTTP/2 server implementations a binary may hold: net/http's bundled copy (h2 over TLS,
 * via ALPN) and golang.org/x/net/http2 (h2c, or ConfigureServer). The attach cookie's
 * HTTP2_COOKIE_XNET bit says which one a probe sits in. */
#define HTTP2_IMPL_BUNDLED 0
#define HTTP2_IMPL_XNET 1
#define HTTP2_IMPLS 2
#define HTTP2_COOKIE_XNET (1ULL << 17)
/* The process's requests are counted by the syscall path (a plaintext HTTP/1 server): these
 * probes, attached with its deep probes, only make its requests roots of the slow breakdown.
 * Counting them here too would need a handoff at every attach and detach, and a request in
 * flight across one would be counted by neither path or by both. */
#define HTTP_COOKIE_ROOTS_ONLY (1ULL << 18)

/* Where an HTTP/2 handler's end finds its request and status: the handlerDone receiver
 * (*responseWriter) → rws (*responseWriterState) → req, status (0: nothing written, 200). */
struct go_http2_offsets {
	__u32 rw_rws;
	__u32 rws_req;
	__u32 rws_status;
	__u32 valid;
};

/* Byte offsets of the fields the probes read, per Go binary (from DWARF or the
 * versioned table); indexed by the slot in the attach cookie. */
struct go_http_offsets {
	__u32 request_method;
	__u32 request_url;
	__u32 url_path;
	__u32 response_req;
	__u32 response_status;
	__u32 valid;
	struct go_http2_offsets h2[HTTP2_IMPLS];
	__u32 g_goid; /* runtime.g.goid; 0 = unknown */
	__u32 pad;
};

/* In-flight state of a request: when it started, and whether an HTTP/2 stream's own
 * start (x/net's runHandler) made it, on which goroutine — the handler's ServeHTTP, when it
 * runs on that same goroutine (x/net behind net/http's TLS server), then leaves it alone.
 * The goroutine id tells it apart from a later goroutine on the recycled g (key). */
struct http_inflight {
	__u64 start_ns;
	__u64 goid;
	__u32 h2_stream;
	__u32 root; /* also a root of the slow breakdown (lib/go_request_roots.bpf.h): end it too */
};

enum http_drop_reason {
	HTTP_DROP_BUCKET_MAP_FULL = 0,
	HTTP_DROP_STATS_MAP_FULL = 1,
	HTTP_DROP_INFLIGHT_FULL = 2,
	HTTP_DROP_READ_FAILED = 3,
	HTTP_DROP_NO_OFFSETS = 4,
	HTTP_DROP_INFLIGHT_UNFINISHED = 5, /* a start found its goroutine's previous request never ended */
	HTTP_DROP_SERIES_OVERFLOW = 6,     /* a request recorded under the overflow series (still counted) */
	HTTP_DROP_SERIES_COUNTER_FULL = 7, /* the per-process series counter map was full */
	HTTP_DROP_REASONS = 8,
};

#endif
