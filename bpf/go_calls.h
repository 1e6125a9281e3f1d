/* Layout shared by bpf/go_calls.bpf.c (and, for the request roots, bpf/http_server.bpf.c) and
 * its decoder in agent/collectors/go-calls/. Every size and offset here is mirrored there;
 * change both together. */
#ifndef BURNWATCH_GO_CALLS_H
#define BURNWATCH_GO_CALLS_H

#define CALL_OP_MAX 48
#define CALL_PEER_MAX 40
#define CALL_ROUTE_MAX 64
#define CALL_METHOD_MAX 8
#define SLOW_SUBCALLS_MAX 16
#define GO_CALLS_SLOTS 256

enum call_kind {
	CALL_HTTP_CLIENT = 1,
	CALL_GRPC_CLIENT = 2,
	CALL_SQL = 3,
	CALL_REDIS = 4,
	CALL_GRPC_SERVER = 5,
	CALL_HTTP_SERVER = 6,
	CALL_GC_PAUSE = 7,
};

/* One series of the in-kernel histogram (88 bytes). `op` is the HTTP method, the gRPC
 * full method, the SQL operation word or the Redis command; `peer` is a "host:port"
 * string when the client holds one (HTTP URL host, gRPC target), else ip4/port from the
 * socket. For GC pauses `status` is 1 for the sweep-termination pause (one per cycle),
 * 2 for mark termination. */
struct call_series {
	__u32 pid;
	__u8 kind;
	__u8 error;
	__u16 status;
	__u64 driver; /* SQL: the driver.Conn itab address; user space maps it to db.system */
	__u32 ip4;    /* network byte order */
	__u16 port;
	__u16 pad;
	char op[CALL_OP_MAX];
	char peer[CALL_PEER_MAX];
};

struct call_bucket_key {
	struct call_series series;
	__s32 bucket;
	__u32 pad;
};

struct call_stats {
	__u64 count;
	__u64 sum_ns;
	__u64 min_ns;
	__u64 max_ns;
};

/* A sub-call of a server request, as carried by the slow-request record (120 bytes). */
struct subcall {
	__u8 kind;
	__u8 error;
	__u16 status;
	__u32 ip4;
	__u64 start_offset_ns;
	__u64 dur_ns;
	__u16 port;
	__u16 pad[3];
	char op[CALL_OP_MAX];
	char peer[CALL_PEER_MAX];
};

/* Per server request (keyed by its goroutine) while it runs. */
struct request_state {
	__u64 start_ns;
	__u64 seq;
	__u32 nsub; /* sub-calls seen; more than SLOW_SUBCALLS_MAX are counted, not kept */
	__u32 kind; /* CALL_HTTP_SERVER (a deep probe's root) or CALL_GRPC_SERVER (always on): the
		     * agent removes the deep ones of a process when its deep probes detach */
	struct subcall subs[SLOW_SUBCALLS_MAX];
};

/* One ring-buffer record per server request over its service's slow threshold. */
struct slow_record {
	__u32 pid;
	__u8 kind; /* CALL_HTTP_SERVER or CALL_GRPC_SERVER */
	__u8 pad0;
	__u16 status;
	__u32 nsub;
	__u32 pad1;
	__u64 start_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 dur_ns;
	char method[CALL_METHOD_MAX];
	char route[CALL_ROUTE_MAX]; /* the raw HTTP path, or the gRPC full method */
	struct subcall subs[SLOW_SUBCALLS_MAX];
};

/* Byte offsets (from DWARF or the versioned table) and data addresses per Go binary,
 * indexed by the slot in the attach cookie. A zero `has_*` means that group is not
 * known for the binary; its probes are then not attached, and its reads skipped. */
struct go_calls_offsets {
	__u32 valid;
	/* gRPC */
	__u32 stream_method, status_s, status_error_e, spb_code, clientconn_target;
	__u32 clientstream_callhdr, callhdr_method, clientstream_cc;
	/* net/http client */
	__u32 request_method, request_url, url_host, response_status_code;
	/* database/sql + lib/pq */
	__u32 driverconn_ci, pq_conn_c;
	/* redigo */
	__u32 redigo_conn_conn;
	/* go-redis v5 */
	__u32 redis5_client_opt, redis5_options_addr, redis5_cmd_args;
	/* net: *TCPConn → fd → raddr → *TCPAddr */
	__u32 tcpconn_fd, netfd_raddr, tcpaddr_ip, tcpaddr_port;
	/* runtime */
	__u32 g_m, g_sched, m_curg, m_preemptoff;
	__u32 pad;
	/* itab / variable addresses (0 = unknown) */
	__u64 itab_tcpconn, itab_status_error, itab_pq_conn, io_eof, itab_redis5_error;
};

enum call_drop_reason {
	CALL_DROP_BUCKET_MAP_FULL = 0,
	CALL_DROP_STATS_MAP_FULL = 1,
	CALL_DROP_INFLIGHT_FULL = 2,
	CALL_DROP_NO_OFFSETS = 3,
	CALL_DROP_RINGBUF_FULL = 4,
	CALL_DROP_SUBCALLS_OVER = 5,
	CALL_DROP_INFLIGHT_UNFINISHED = 6, /* a start found the previous call/request on its key never ended */
	CALL_DROP_REASONS = 7,
};

#endif
