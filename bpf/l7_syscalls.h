/* Layout shared by bpf/l7_syscalls.bpf.c (and the protocol parsers in bpf/lib/l7_*.bpf.h)
 * and its decoder in agent/collectors/syscall-l7.ts. */
#ifndef BURNWATCH_L7_SYSCALLS_H
#define BURNWATCH_L7_SYSCALLS_H

#include "http_server.h" /* HTTP_PATH_MAX, HTTP_PATH_LEN_OVERFLOW, struct http_stats: one route scheme for both paths */

#define L7_OP_MAX 16
#define L7_CARRY 8 /* a request may start in a read this short or shorter, carried into the next */

/* What a connection carries (struct l7_conn.protocol, struct l7_series.protocol). */
#define L7_PROTO_UNKNOWN 0 /* nothing seen yet */
#define L7_PROTO_HTTP1 1
#define L7_PROTO_REDIS 2
#define L7_PROTO_POSTGRES 3
#define L7_PROTO_TLS 4   /* opaque: counted (connections, bytes), never parsed */
#define L7_PROTO_HTTP2 5 /* opaque: the HTTP/2 preface; not parsed as HTTP/1 */
#define L7_PROTO_OTHER 6 /* the first request matched no parser: the connection is left alone */

/* Which side of the connection the process is. */
#define L7_ROLE_SERVER 0 /* it accepted the connection */
#define L7_ROLE_CLIENT 1 /* it connected */

/* struct l7_series.kind: the metric a series belongs to. */
#define L7_KIND_HTTP_SERVER 0 /* http.server.request.duration */
#define L7_KIND_HTTP_CLIENT 1 /* http.client.request.duration */
#define L7_KIND_DB_CLIENT 2   /* db.client.operation.duration (db.system from protocol) */

/* l7_coverage values (bits): what Go uprobes already measure for a process, so the syscall
 * path leaves it alone (set by SyscallL7Collector.setUprobeCoverage). */
#define L7_COVER_HTTP_SERVER 0x1
#define L7_COVER_HTTP_CLIENT 0x2
#define L7_COVER_DB 0x4

/* One series of the in-kernel histogram. Client kinds carry the server they talk to. */
struct l7_series {
	__u32 pid;
	__u16 status;   /* HTTP status; 0 for other protocols */
	__u16 path_len; /* of path as masked; HTTP_PATH_MAX + 1: truncated; HTTP_PATH_LEN_OVERFLOW */
	__u8 kind;      /* L7_KIND_* */
	__u8 protocol;  /* L7_PROTO_* */
	__u8 error;     /* the reply was an error (Redis '-', PostgreSQL ErrorResponse) */
	__u8 family;    /* AF_INET / AF_INET6 of addr (client kinds) */
	__u16 port;     /* client kinds: the server's port */
	__u16 pad;
	__u8 addr[16];  /* client kinds: the server's address (IPv4 in the first 4 bytes) */
	char op[L7_OP_MAX];
	char path[HTTP_PATH_MAX];
};

/* A series' id: a keyed 64-bit hash of its struct l7_series (the key is random, set by the
 * agent at load), bit 0 set for an overflow series, so an overflow id is never a named
 * series' id. The name behind an id is in l7_series_seen (or l7_overflow_seen) of the same
 * generation, compared in full before an id is first used on a connection: two series with one
 * id are never merged (the second is recorded under its overflow series and counted). */
#define L7_SERIES_ID_OVERFLOW 1

struct l7_series_key {
	__u32 pid;
	__u32 pad;
	__u64 id;
};

struct l7_bucket_key {
	__u32 pid;
	__s32 bucket; /* exponential-histogram index of the duration in seconds */
	__u64 id;     /* the series' (see above) */
};

/* Connections whose bytes are not parsed (TLS, HTTP/2), per process and role. */
struct l7_opaque_key {
	__u32 pid;
	__u8 protocol; /* L7_PROTO_TLS, L7_PROTO_HTTP2 */
	__u8 role;     /* L7_ROLE_* */
	__u16 pad;
};

struct l7_opaque_stats {
	__u64 connections;   /* recognised on their first bytes in this interval */
	__u64 bytes_received;
	__u64 bytes_sent;
};

struct l7_conn_key {
	__u32 tgid;
	__u32 fd;
};

/* A tracked TCP connection of a process, and the request in flight on it. */
struct l7_conn {
	__u64 start_ns;  /* the request in flight started; 0: none */
	__u8 role;       /* L7_ROLE_* */
	__u8 protocol;   /* L7_PROTO_* */
	__u8 family;
	__u8 state;      /* L7_CONN_* */
	__u16 port;      /* client: the server's port; server: the local port */
	__u16 status;    /* a response whose end is still to come (chunked body) */
	__u8 addr[16];   /* the other end */
	__u16 path_len;  /* of the request in flight, as masked */
	__u8 error;
	__u8 head;       /* the request in flight is a HEAD: its response has no body */
	__u8 carry_len;  /* bytes in carry */
	__u8 carry[L7_CARRY]; /* a short read's bytes that may start a request (Go reads one byte ahead) */
	__u8 pad;
	__u16 owed;      /* L7_CONN_PIPELINED: replies still owed to the requests counted; L7_OWED_UNKNOWN: not counted */
	char op[L7_OP_MAX];
	char path[HTTP_PATH_MAX];
	char prepared_op[L7_OP_MAX]; /* PostgreSQL: the word of the unnamed statement's Parse, for its later Execute */
	/* The series id of the last request ended on it, valid while the request's op and path and
	 * the reply's status and error are the same and its name is known to be in this
	 * generation's map (series_stamp: the generation and its epoch, 0: none). A keep-alive
	 * connection repeating one route builds, hashes and compares its series once a generation. */
	__u64 series_id;
	__u32 series_stamp;
	__u16 series_status;
	__u8 series_error;
	/* The process's l7_coverage bits as of coverage version cover_stamp - 1 (0: not looked up):
	 * the hash lookup is made again only when the agent has changed some process's coverage. */
	__u8 cover_bits;
	__u32 cover_stamp;
	__u32 cover_pad;
};

#define L7_CONN_IDLE 0
#define L7_CONN_REQUEST 1      /* a request in flight, its response not seen yet */
#define L7_CONN_BODY 2         /* the response's status seen; its chunked body has not ended */
#define L7_CONN_PIPELINED 3    /* requests were pipelined: nothing on it is matched until the replies answer
				* every request (both counted by the parser: Redis, PostgreSQL), for good otherwise */
#define L7_OWED_UNKNOWN 0xffff

enum l7_drop_reason {
	L7_DROP_CONN_MAP_FULL = 0,     /* a connection not tracked */
	L7_DROP_PENDING_MAP_FULL = 1,  /* a syscall not followed (per-thread state map full) */
	L7_DROP_BUCKET_MAP_FULL = 2,
	L7_DROP_STATS_MAP_FULL = 3,    /* a series' name not stored (l7_series_seen full): recorded under its overflow series;
					* l7_overflow_seen full too: not recorded */
	L7_DROP_SERIES_OVERFLOW = 4,   /* recorded under the overflow series (still counted) */
	L7_DROP_SERIES_COUNTER_FULL = 5,
	L7_DROP_PIPELINED = 6,         /* a response on a pipelining connection: its request counted here, not measured */
	L7_DROP_UNFINISHED = 7,        /* the connection closed with a request in flight */
	L7_DROP_OPAQUE_MAP_FULL = 8,
	L7_DROP_HANDOFF = 9,           /* a call in flight when Go uprobes took its kind over: counted by neither */
	L7_DROP_SERIES_COLLISION = 10, /* two series with one id: the later recorded under its overflow series (still counted) */
	L7_DROP_REASONS = 11,
};

#endif
