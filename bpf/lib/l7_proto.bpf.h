/* SPDX-License-Identifier: GPL-2.0 */
/* Application protocols seen from syscalls (bpf/l7_syscalls.bpf.c): the types a protocol
 * parser fills and the dispatch that tries each parser.
 *
 * The syscall programs copy the first L7_PEEK bytes of every read/write on a tracked TCP
 * connection into a per-CPU scratch buffer (never the stack: 512 bytes is all a BPF
 * program has) and hand it to l7_parse_request / l7_parse_response. A parser sees only
 * those bytes — a message boundary is assumed at the start of each read/write, which is
 * how request/response clients and servers use a socket — and returns 1 when it
 * recognises the start of a message of its protocol, filling a struct l7_message.
 *
 * Adding a protocol: a header lib/l7_<proto>.bpf.h with
 *   static __always_inline int l7_<proto>_request(const __u8 *buf, __u32 n, struct l7_message *m)
 *   static __always_inline int l7_<proto>_response(const __u8 *buf, __u32 n, struct l7_message *m)
 * an L7_PROTO_* number below, and one line in each dispatch function. Requests are tried
 * against every parser while a connection's protocol is unknown (the first recognised one
 * fixes it); responses only against the connection's protocol, because short replies
 * (Redis "+OK") would be mistaken for another protocol's bytes.
 * Include after vmlinux.h and bpf_helpers.h. */
#ifndef BURNWATCH_L7_PROTO_BPF_H
#define BURNWATCH_L7_PROTO_BPF_H

#include "l7_syscalls.h"

/* Bytes copied from the start of each read/write (a power of two: offsets are masked with L7_PEEK - 1). */
#define L7_PEEK 256

struct l7_message {
	__u8 protocol;  /* L7_PROTO_*, set by the dispatch */
	__u8 error;     /* an error reply (Redis '-', PostgreSQL ErrorResponse); HTTP leaves it 0 */
	__u16 status;   /* HTTP status code (responses) */
	__u32 flags;    /* L7_MSG_* */
	__s32 path_len; /* HTTP request path: its full length (may exceed HTTP_PATH_MAX) */
	__u32 body_at;  /* HTTP: offset of the body in buf (after the blank line), 0 when not seen */
	__s64 body_len; /* HTTP: Content-Length, -1 when absent */
	char op[L7_OP_MAX];        /* HTTP method, Redis command word, SQL operation word; NUL-padded */
	char path[HTTP_PATH_MAX];  /* HTTP request path, NUL-padded */
	/* Whole messages (requests, or replies) the buffer holds, when the parser walked every byte
	 * into whole ones (Redis, PostgreSQL); 0: not counted. A pipelined connection is matched
	 * again once the replies counted this way answer every request counted. */
	__u32 messages;
};

/* struct l7_message.flags */
#define L7_MSG_CHUNKED 0x1   /* HTTP: Transfer-Encoding: chunked — the message ends with the zero-size chunk */
#define L7_MSG_NO_BODY 0x2   /* HTTP: a response that carries no body whatever its headers say (1xx/204/304) */
#define L7_MSG_MORE 0x4      /* more bytes follow the message's headers in this buffer (pipelined requests) */
#define L7_MSG_HEAD_DONE 0x8 /* the header block ended within the peeked bytes */
#define L7_MSG_INFORMATIONAL 0x10 /* HTTP 1xx: the final response is still to come */
#define L7_MSG_SETUP 0x20    /* connection set-up (PostgreSQL start-up, SSLRequest): the protocol is known, no request starts */
#define L7_MSG_NEGOTIATE 0x40 /* a request to encrypt (PostgreSQL SSLRequest): what follows, a TLS handshake or plaintext, decides */
#define L7_MSG_PREPARE 0x80  /* PostgreSQL: prepares the unnamed statement, whose word is op */
#define L7_MSG_RUN_UNNAMED 0x100 /* PostgreSQL: executes the unnamed statement prepared before on the connection */

/* The peeked bytes as one sized object: what a parser built as a global function (verified on
 * its own, lib/l7_redis.bpf.h) takes, since such a function's pointer argument needs a size. */
struct l7_peek {
	__u8 b[L7_PEEK];
};

#include "l7_http1.bpf.h"
#include "l7_postgres.bpf.h"
#include "l7_redis.bpf.h"

/* The start of a request of `proto` (L7_PROTO_UNKNOWN: of any protocol) in buf[0..n). */
static __always_inline int l7_parse_request(__u8 proto, const __u8 *buf, __u32 n, struct l7_message *m)
{
	if ((proto == L7_PROTO_UNKNOWN || proto == L7_PROTO_HTTP1) && l7_http1_request(buf, n, m)) {
		m->protocol = L7_PROTO_HTTP1;
		return 1;
	}
	if ((proto == L7_PROTO_UNKNOWN || proto == L7_PROTO_POSTGRES) && l7_postgres_request(buf, n, m)) {
		m->protocol = (m->flags & L7_MSG_NEGOTIATE) ? proto : L7_PROTO_POSTGRES;
		return 1;
	}
	if ((proto == L7_PROTO_UNKNOWN || proto == L7_PROTO_REDIS) && l7_redis_request(buf, n, m)) {
		m->protocol = L7_PROTO_REDIS;
		return 1;
	}
	return 0;
}

/* The start of a response of the connection's protocol `proto` in buf[0..n). */
static __always_inline int l7_parse_response(__u8 proto, const __u8 *buf, __u32 n, struct l7_message *m)
{
	if (proto == L7_PROTO_HTTP1 && l7_http1_response(buf, n, m)) {
		m->protocol = L7_PROTO_HTTP1;
		return 1;
	}
	if (proto == L7_PROTO_POSTGRES && l7_postgres_response(buf, n, m)) {
		m->protocol = L7_PROTO_POSTGRES;
		return 1;
	}
	if (proto == L7_PROTO_REDIS && l7_redis_response(buf, n, m)) {
		m->protocol = L7_PROTO_REDIS;
		return 1;
	}
	return 0;
}

/* Protocols recognised on a connection's first bytes and never parsed (encrypted, or binary
 * framing this path does not decode): L7_PROTO_TLS (a TLS record header: handshake type 22,
 * version 3.x), L7_PROTO_HTTP2 (the client preface "PRI * HTTP/2.0"); L7_PROTO_UNKNOWN else. */
static __always_inline __u8 l7_opaque_protocol(const __u8 *buf, __u32 n)
{
	if (n >= 3 && buf[0] == 0x16 && buf[1] == 0x03 && buf[2] <= 0x04)
		return L7_PROTO_TLS;
	if (n >= 14 && buf[0] == 'P' && buf[1] == 'R' && buf[2] == 'I' && buf[3] == ' ' && buf[4] == '*' && buf[5] == ' ' &&
	    buf[6] == 'H' && buf[7] == 'T' && buf[8] == 'T' && buf[9] == 'P' && buf[10] == '/' && buf[11] == '2')
		return L7_PROTO_HTTP2;
	return L7_PROTO_UNKNOWN;
}

#endif /* BURNWATCH_L7_PROTO_BPF_H */
