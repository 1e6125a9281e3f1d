/* SPDX-License-Identifier: GPL-2.0 */
/* PostgreSQL frontend/backend protocol 3.0
 * (https://www.postgresql.org/docs/current/protocol-message-formats.html) seen from syscalls:
 * the operation word of a query and whether its answer holds an ErrorResponse.
 *
 * After start-up every message is a type byte and a big-endian int32 length that counts
 * itself but not the type byte. A request is one round trip the client starts with:
 *  - a simple query, 'Q' + the statement text: the word is the statement's first word;
 *  - an extended query, Parse ('P': name, text) / Bind / Describe / Execute ('E') / Sync
 *    sent together (libpq's PQexecParams, node-postgres, JDBC): the word comes from the
 *    Parse; an Execute of an already prepared statement (no Parse in the buffer) is
 *    "EXECUTE" — its text is not on the wire — unless it runs the unnamed statement, whose
 *    Parse went before on the connection (lib/pq: Parse/Describe/Sync, then Bind/Execute/
 *    Sync): the prepare is recognised as set-up carrying its word (L7_MSG_PREPARE) and the
 *    Execute says L7_MSG_RUN_UNNAMED, so the connection tracking names it with that word;
 *    a Parse cut off by the end of the peeked bytes counts as an extended query too (its
 *    Execute lies further on).
 * The start-up packet, SSLRequest/GSSENCRequest and CancelRequest (no type byte: a length
 * then a code) are recognised as set-up (L7_MSG_SETUP: PostgreSQL, but no query); an
 * SSLRequest also says L7_MSG_NEGOTIATE, because its one-byte answer decides what follows:
 * 'S' then a TLS handshake (the connection tracking counts TLS), or 'N' then the plaintext
 * start-up. The authentication exchange ('p'), a bare Parse/Describe/Sync that only prepares
 * (no Execute: nothing ran) and Terminate are not queries: unrecognised, never counted.
 *
 * The word is SQL's first keyword upper-cased (SELECT, INSERT, WITH, BEGIN…), letters
 * only and never a literal, as agent/collectors/go-calls.ts's operationWord does for the
 * Go path; a statement that does not start with one (a comment, a parenthesis, a word
 * longer than L7_OP_MAX - 1) leaves op empty, which user space reports as UNKNOWN.
 *
 * A response is the first read of the server's answer: it starts with a message that
 * answers a query (RowDescription, CommandComplete, ErrorResponse, ParseComplete…);
 * authentication requests, ParameterStatus, BackendKeyData (start-up) and asynchronous
 * notifications do not. m->error is set when an ErrorResponse ('E') is among the messages
 * that lie within the peeked bytes (an error after more than L7_PEEK bytes of rows is
 * not seen). Two queries in one buffer (a second 'Q', or messages after the Sync) set
 * L7_MSG_MORE: pipelined; then m->messages counts the round trips (requests: 'Q's and
 * Execute…Sync; answers: ReadyForQuery) when the buffer holds whole ones only, so that the
 * connection tracking can tell when a pipelined connection has its answers. */
#ifndef BURNWATCH_L7_POSTGRES_BPF_H
#define BURNWATCH_L7_POSTGRES_BPF_H

/* Messages walked in one buffer (a pipelined batch of five-message extended queries needs many). */
#define L7_PG_WALK 32
/* The server's own bound on a message (PQ_LARGE_MESSAGE_LIMIT, MaxAllocSize - 1): a larger
 * "length" means these bytes are not PostgreSQL (e.g. Redis's inline "PING" reads as
 * 'P' + 0x494e470d). */
#define L7_PG_MAX_LEN 0x3fffffff
/* Start-up packet codes (no type byte: length, code) and the server's bound on their length
 * (MAX_STARTUP_PACKET_LENGTH). A protocol-3 StartupMessage's code is 3 << 16 | minor. */
#define L7_PG_SSL_REQUEST 80877103
#define L7_PG_GSSENC_REQUEST 80877104
#define L7_PG_CANCEL_REQUEST 80877102
#define L7_PG_STARTUP_MAX 10000
/* Bytes of a prepared statement's name skipped to reach a Parse's text. */
#define L7_PG_NAME_MAX 64

static __always_inline __u8 l7_pg_at(const __u8 *buf, __u32 i)
{
	return buf[i & (L7_PEEK - 1)];
}

static __always_inline __u32 l7_pg_u32(const __u8 *buf, __u32 i)
{
	return ((__u32)l7_pg_at(buf, i) << 24) | ((__u32)l7_pg_at(buf, i + 1) << 16) |
	       ((__u32)l7_pg_at(buf, i + 2) << 8) | (__u32)l7_pg_at(buf, i + 3);
}

/* Message types a client sends after start-up. */
static __always_inline int l7_pg_frontend_type(__u8 t)
{
	switch (t) {
	case 'Q': case 'P': case 'B': case 'D': case 'E': case 'S': case 'H': case 'C':
	case 'X': case 'p': case 'F': case 'd': case 'c': case 'f':
		return 1;
	}
	return 0;
}

/* Message types a server sends that answer a query (the first message of a response). */
static __always_inline int l7_pg_answer_type(__u8 t)
{
	switch (t) {
	case 'T': case 'D': case 'C': case 'E': case 'I': case 'N': case 'n': case 's': case 't':
	case '1': case '2': case '3': case 'G': case 'H': case 'W': case 'V':
		return 1;
	}
	return 0;
}

/* Message types a server may send at all (any later message of a response). */
static __always_inline int l7_pg_backend_type(__u8 t)
{
	return l7_pg_answer_type(t) || t == 'Z' || t == 'S' || t == 'K' || t == 'R' || t == 'A' || t == 'd' || t == 'c' || t == 'v';
}

/* The statement's first word at buf[at..), upper-cased, into m->op (left empty when the
 * text does not start with a whole word within the peeked bytes). */
static __always_inline void l7_pg_sql_word(const __u8 *buf, __u32 n, __u32 at, struct l7_message *m)
{
	char word[L7_OP_MAX] = {};
	__u32 len = 0;

	for (int k = 0; k < 8; k++) { /* leading white space, as psql sends after a blank line */
		__u8 c;

		if (at >= n)
			return;
		c = l7_pg_at(buf, at);
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		at++;
	}
	for (__u32 k = 0; k < L7_OP_MAX; k++) {
		__u8 c;

		if (at + k >= n)
			return; /* the word may go on past the peeked bytes */
		c = l7_pg_at(buf, at + k);
		if (c >= 'a' && c <= 'z')
			c = c - 'a' + 'A';
		if (c < 'A' || c > 'Z')
			break;
		if (k == L7_OP_MAX - 1)
			return; /* longer than any keyword we keep */
		word[k] = c;
		len = k + 1;
	}
	if (len)
		__builtin_memcpy(m->op, word, sizeof(word));
}

/* Offset of a Parse's statement text: after its NUL-terminated statement name. */
static __always_inline __u32 l7_pg_parse_text(const __u8 *buf, __u32 n, __u32 body)
{
	for (__u32 k = 0; k < L7_PG_NAME_MAX; k++) {
		if (body + k >= n)
			return 0;
		if (l7_pg_at(buf, body + k) == 0)
			return body + k + 1;
	}
	return 0;
}

/* What a walk over a buffer's messages found: state in a per-CPU map value, as lib/l7_redis.bpf.h does. */
struct l7_pg_walk {
	__u32 n;
	__u32 pos;        /* the next message's type byte */
	__u32 response;   /* walking a server's bytes */
	__u32 rounds;     /* round trips: a request's 'Q's and Executes ended by Sync; an answer's ReadyForQuery */
	__u32 open;       /* the last message walked did not end a round trip */
	__u32 execute;    /* an Execute in the round trip being walked */
	__u32 executed;   /* an Execute anywhere */
	__u32 parse_at;   /* offset of the first Parse's body, 0: none */
	__u32 query_at;   /* offset of the first simple query's text, 0: none */
	__u32 parse_unnamed; /* the first Parse prepares the unnamed statement */
	__u32 bind_unnamed;  /* a Bind of the unnamed statement to the unnamed portal */
	__u32 bind_named;    /* a Bind of anything else */
	__u32 cut;        /* the walk ended in a message that goes on past the peeked bytes */
	__u32 messages;
	__u32 more;       /* a second round trip starts in the buffer */
	__u32 error;      /* response: an ErrorResponse */
	__s32 verdict;    /* -1: not PostgreSQL; 0: not a query (start-up, authentication…); 1 */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_pg_walk);
} l7_pg_scratch SEC(".maps");

struct l7_pg_loop {
	struct l7_pg_walk *w;
	const __u8 *buf;
};

/* One message: its type and length checked, what it tells noted, pos moved past it. */
static long l7_pg_step(__u64 i, void *data)
{
	struct l7_pg_loop *l = data;
	struct l7_pg_walk *w = l->w;
	const __u8 *buf = l->buf;
	__u32 at = w->pos, len;
	__u8 t;

	if (w->verdict || i >= L7_PG_WALK)
		return 1;
	if (at + 5 > w->n) {
		w->cut = at < w->n;
		return 1;
	}
	t = l7_pg_at(buf, at);
	len = l7_pg_u32(buf, at + 1);
	if (len < 4 || len > L7_PG_MAX_LEN || !(w->response ? l7_pg_backend_type(t) : l7_pg_frontend_type(t))) {
		/* Start-up packets (no type byte) and other protocols: the first message decides;
		 * after it, these are bytes we do not follow. */
		if (!w->messages)
			w->verdict = -1;
		w->cut = 1;
		return 1;
	}
	w->messages++;
	w->open = 1;
	if (w->rounds)
		w->more = 1; /* a second round trip in the same buffer: pipelined */
	if (w->response) {
		if (t == 'E' && !w->rounds)
			w->error = 1;
		if (t == 'Z') { /* ReadyForQuery ends an answer */
			w->rounds++;
			w->open = 0;
		}
	} else {
		switch (t) {
		case 'Q':
			/* A whole simple query ends with its text's NUL. */
			if (at + 1 + len <= w->n && l7_pg_at(buf, at + len) != 0) {
				w->verdict = -1;
				return 1;
			}
			w->rounds++; /* its own round trip */
			w->open = 0;
			if (!w->query_at && !w->parse_at)
				w->query_at = at + 5;
			break;
		case 'P':
			if (!w->parse_at && !w->query_at) {
				w->parse_at = at + 5;
				w->parse_unnamed = l7_pg_at(buf, at + 5) == 0;
			}
			break;
		case 'B': /* portal name, then statement name: both empty for the unnamed ones */
			if (l7_pg_at(buf, at + 5) == 0 && l7_pg_at(buf, at + 6) == 0)
				w->bind_unnamed = 1;
			else
				w->bind_named = 1;
			break;
		case 'E':
			w->execute = 1;
			w->executed = 1;
			break;
		case 'S':
			if (w->execute)
				w->rounds++;
			w->execute = 0;
			w->open = 0;
			break;
		case 'p': /* password, SASL: the authentication exchange */
		case 'X': /* Terminate */
			w->verdict = -1;
			return 1;
		}
	}
	if (at + 1 + len > w->n) {
		w->cut = 1;
		return 1;
	}
	w->pos = at + 1 + len;
	return 0;
}

static __always_inline struct l7_pg_walk *l7_pg_walk(const __u8 *buf, __u32 n, __u32 response)
{
	__u32 zero = 0;
	struct l7_pg_loop l;
	struct l7_pg_walk *w = bpf_map_lookup_elem(&l7_pg_scratch, &zero);

	if (!w)
		return NULL;
	__builtin_memset(w, 0, sizeof(*w));
	w->n = n;
	w->response = response;
	l.w = w;
	l.buf = buf;
	bpf_loop(L7_PG_WALK, l7_pg_step, &l, 0);
	return w;
}

/* MORE when a second round trip starts in the buffer; their count when the walk took every
 * byte into whole messages and the last one ended a round trip. */
static __always_inline void l7_pg_counted(const struct l7_pg_walk *w, struct l7_message *m)
{
	if (w->more)
		m->flags |= L7_MSG_MORE;
	if (!w->cut && !w->open && w->pos == w->n && w->rounds)
		m->messages = w->rounds > 0xffff ? 0xffff : w->rounds;
}

/* Start-up packets: a length, then a code (no type byte). The protocol is PostgreSQL from
 * here on, but nothing is asked that a response answers as a query. */
static __always_inline int l7_pg_startup(const __u8 *buf, __u32 n, struct l7_message *m)
{
	__u32 len = l7_pg_u32(buf, 0), code = l7_pg_u32(buf, 4);

	if (len == 8 && (code == L7_PG_SSL_REQUEST || code == L7_PG_GSSENC_REQUEST)) {
		m->flags |= L7_MSG_SETUP | L7_MSG_NEGOTIATE;
		return 1;
	}
	if ((len == 16 && code == L7_PG_CANCEL_REQUEST) || (len > 8 && len <= L7_PG_STARTUP_MAX && (code >> 16) == 3)) {
		m->flags |= L7_MSG_SETUP;
		return 1;
	}
	return 0;
}

/* A global function: the verifier checks it once, on its own, instead of along every path of
 * the syscall program that reaches the dispatch (which would exceed its budget). */
__attribute__((noinline)) int l7_postgres_request_bytes(const struct l7_peek *peek, __u32 n, struct l7_message *m)
{
	const __u8 *buf;
	struct l7_pg_walk *w;
	__u32 text;

	if (!peek || !m)
		return 0;
	buf = peek->b;
	__builtin_memset(m, 0, sizeof(*m));
	if (n < 8)
		return 0;
	if (buf[0] == 0)
		return l7_pg_startup(buf, n, m);
	w = l7_pg_walk(buf, n, 0);
	if (!w || w->verdict < 0)
		return 0;
	if (w->parse_at && !w->query_at) {
		text = l7_pg_parse_text(buf, n, w->parse_at);
		if (text)
			l7_pg_sql_word(buf, n, text, m);
		if (w->parse_unnamed)
			m->flags |= L7_MSG_PREPARE;
	}
	/* A Parse cut off by the end of the peeked bytes: its Execute lies further on. */
	if (!w->rounds && !w->executed && !(w->cut && w->parse_at)) {
		/* Only preparing (Parse/Describe/Sync, as lib/pq does before it binds): no query ran,
		 * but the unnamed statement's word is kept for its Execute. */
		if (!(m->flags & L7_MSG_PREPARE) || w->cut)
			return 0;
		m->flags |= L7_MSG_SETUP;
		return 1;
	}
	if (w->query_at) {
		l7_pg_sql_word(buf, n, w->query_at, m);
	} else if (!w->parse_at) {
		/* An Execute of a statement prepared before: its text is not here. */
		__builtin_memcpy(m->op, "EXECUTE", 8);
		if (w->bind_unnamed && !w->bind_named)
			m->flags |= L7_MSG_RUN_UNNAMED;
	}
	l7_pg_counted(w, m);
	return 1;
}

/* A global function: the verifier checks it once, on its own, instead of along every path of
 * the syscall program that reaches the dispatch (which would exceed its budget). */
__attribute__((noinline)) int l7_postgres_response_bytes(const struct l7_peek *peek, __u32 n, struct l7_message *m)
{
	const __u8 *buf;
	struct l7_pg_walk *w;

	if (!peek || !m)
		return 0;
	buf = peek->b;
	__builtin_memset(m, 0, sizeof(*m));
	if (n < 5 || !l7_pg_answer_type(buf[0]))
		return 0;
	w = l7_pg_walk(buf, n, 1);
	if (!w || w->verdict < 0)
		return 0;
	m->error = w->error;
	l7_pg_counted(w, m);
	return 1;
}

static __always_inline int l7_postgres_request(const __u8 *buf, __u32 n, struct l7_message *m)
{
	return l7_postgres_request_bytes((const struct l7_peek *)buf, n, m);
}

static __always_inline int l7_postgres_response(const __u8 *buf, __u32 n, struct l7_message *m)
{
	return l7_postgres_response_bytes((const struct l7_peek *)buf, n, m);
}

#endif /* BURNWATCH_L7_POSTGRES_BPF_H */
