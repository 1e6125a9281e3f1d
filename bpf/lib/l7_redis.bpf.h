/* SPDX-License-Identifier: GPL-2.0 */
/* Redis RESP (https://redis.io/docs/latest/develop/reference/protocol-spec/) seen from
 * syscalls, for lib/l7_proto.bpf.h's dispatch: the command word of a request and whether
 * the reply is an error.
 *
 * Requests come in two forms: multi-bulk, what every client library and redis-cli sends
 * ("*<argc>\r\n$<len>\r\n<COMMAND>\r\n$<len>\r\n<arg>\r\n…"), and inline, a line of
 * words typed over telnet/nc ("PING\r\n", "set k v\n"). The command word is the first
 * argument, upper-cased (Redis matches commands case-insensitively). A first argument that
 * is not a plausible command name (a letter, then letters, digits, '.', '_' or '-' as in
 * module commands "JSON.SET") makes the buffer unrecognised; a name longer than
 * L7_OP_MAX - 1 bytes is recognised with op left empty (user space says UNKNOWN): never a
 * wrong or cut word.
 *
 * Replies: '-' (simple error) and '!' (RESP3 blob error) are errors; every other RESP2/3
 * type starts a reply, except '>' (a RESP3 push: out of band, it answers no request). The
 * first line must be a whole RESP line, so a text reply of another protocol is not taken.
 *
 * Pipelining: when a buffer holds a whole first request or reply and bytes follow it,
 * L7_MSG_MORE is set, so that the connection tracking counts pipelined commands as
 * unmatched rather than pairing them wrongly. A message whose end lies past the peeked
 * bytes leaves MORE clear (we cannot know).
 *
 * One bpf_loop walk over a message, a step per byte of its headers and one per bulk body
 * (skipped whole), with its state in a per-CPU map value: kept on the stack, the verifier
 * would explore each combination of the walk's counters (as lib/http_path.bpf.h says).
 * The entry points are global functions (l7_redis_request_bytes…), verified once on their
 * own: inlined into bpf/l7_syscalls.bpf.c they took its verification from 48k to 910k of
 * the 1M instructions allowed, since the verifier walked them along every path that
 * reaches the dispatch. */
#ifndef BURNWATCH_L7_REDIS_BPF_H
#define BURNWATCH_L7_REDIS_BPF_H

/* The longest command name taken as one (module commands such as "FT._ALIASADDIFNX" are
 * long; a longer first argument is more likely not a command). */
#define L7_REDIS_NAME_MAX 48
/* Digits of a RESP length or count: Redis caps bulk strings at 512 MB (9 digits). */
#define L7_REDIS_DIGITS 10

#define L7_REDIS_TYPE 0   /* at a type byte */
#define L7_REDIS_NUM 1    /* in the length/count after $ * % ~ … */
#define L7_REDIS_NUM_LF 2 /* after the number's '\r' */
#define L7_REDIS_LINE 3   /* in a simple line (+ - : …, or an inline command) */

struct l7_redis_walk {
	__u32 n;
	__u32 pos;         /* the next byte to look at */
	__s64 pending;     /* elements still to walk: aggregates add theirs */
	__s64 value;       /* the number being read */
	__u32 phase;       /* L7_REDIS_* */
	__u32 digits;
	__u32 neg;
	__u32 type;        /* of the element being read */
	__u32 request;     /* a multi-bulk request: an array of bulk strings only */
	__u32 elements;    /* type bytes seen */
	__u32 first_line;  /* the first line ended well */
	__u32 word_at;     /* request: the first bulk's offset and length */
	__u32 word_len;
	__u32 start_phase; /* what each message starts with: L7_REDIS_TYPE, or L7_REDIS_LINE (inline) */
	__u32 messages;    /* whole messages walked */
	__u32 first_end;   /* the offset just past the first message, 0 until it ends */
	__s32 done;        /* 1: the last whole message ends exactly at n; 2: one goes on past n; -1: not RESP */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_redis_walk);
} l7_redis_scratch SEC(".maps");

/* bpf_loop's context must be on the stack: it carries the map value's address. */
struct l7_redis_loop {
	struct l7_redis_walk *w;
	const __u8 *buf;
};

static __always_inline int l7_redis_letter(__u8 c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static __always_inline int l7_redis_name_char(__u8 c)
{
	return l7_redis_letter(c) || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* The end of an element: the message is whole when nothing is pending; then the next one, if
 * the buffer goes on, is walked too (to count the messages of a pipelined buffer). */
static __always_inline void l7_redis_element_done(struct l7_redis_walk *w)
{
	w->phase = L7_REDIS_TYPE;
	w->first_line = 1;
	if (w->pending > 0)
		return;
	w->messages++;
	if (!w->first_end)
		w->first_end = w->pos;
	if (w->pos >= w->n) {
		w->done = w->pos == w->n ? 1 : 2;
		return;
	}
	w->phase = w->start_phase;
	w->pending = w->start_phase == L7_REDIS_TYPE;
	w->elements = 0;
}

static long l7_redis_step(__u64 i, void *data)
{
	struct l7_redis_loop *l = data;
	struct l7_redis_walk *w = l->w;
	__s64 v;
	__u8 c;

	if (w->done || w->pos >= w->n || w->pos >= L7_PEEK)
		return 1;
	c = l->buf[w->pos & (L7_PEEK - 1)];
	w->pos++;
	switch (w->phase) {
	case L7_REDIS_TYPE:
		/* Redis skips empty lines between commands (redis-cli --pipe writes one); they get no reply. */
		if (w->request && !w->elements && w->messages && (c == '\r' || c == '\n')) {
			if (w->pos >= w->n)
				w->done = 1;
			return 0;
		}
		if (w->pending <= 0 || (w->request && c != (w->elements ? '$' : '*'))) {
			w->done = -1;
			return 1;
		}
		w->type = c;
		w->elements++;
		w->pending--;
		switch (c) {
		case '$': case '!': case '=': /* bulk string, blob error, verbatim string */
		case '*': case '~': case '>': /* array, set, push */
		case '%': case '|':           /* map, attribute (a map, then the reply it annotates) */
			w->phase = L7_REDIS_NUM;
			w->value = 0;
			w->digits = 0;
			w->neg = 0;
			break;
		case '+': case '-': case ':': case '_': case ',': case '#': case '(':
			w->phase = L7_REDIS_LINE;
			break;
		default:
			w->done = -1;
			return 1;
		}
		return 0;
	case L7_REDIS_NUM:
		if (c == '-' && !w->digits && !w->neg) {
			w->neg = 1;
		} else if (c >= '0' && c <= '9' && w->digits < L7_REDIS_DIGITS) {
			w->value = w->value * 10 + (c - '0');
			w->digits++;
		} else if (c == '\r' && w->digits) {
			w->phase = L7_REDIS_NUM_LF;
		} else {
			w->done = -1;
			return 1;
		}
		return 0;
	case L7_REDIS_NUM_LF:
		if (c != '\n') {
			w->done = -1;
			return 1;
		}
		v = w->neg ? -w->value : w->value;
		switch (w->type) {
		case '$': case '!': case '=':
			if (w->request && w->elements == 2 && !w->messages) {
				w->word_at = w->pos;
				w->word_len = v > 0 ? (__u32)v : 0;
			}
			if (v > 0)
				w->pos += (__u32)v + 2; /* the body and its CRLF */
			else if (v == 0)
				w->pos += 2;
			break;
		case '%':
			if (v > 0)
				w->pending += 2 * v;
			break;
		case '|':
			if (v > 0)
				w->pending += 2 * v;
			w->pending++;
			break;
		default: /* aggregates */
			if (w->request && v < 1) {
				w->done = -1;
				return 1;
			}
			if (v > 0)
				w->pending += v;
		}
		l7_redis_element_done(w);
		return 0;
	default: /* L7_REDIS_LINE */
		if (c == '\n')
			l7_redis_element_done(w);
		return 0;
	}
}

/* Walks one message from buf[0]; the walk's state, or NULL when the scratch is missing. */
static __always_inline struct l7_redis_walk *l7_redis_walk(const __u8 *buf, __u32 n, __u32 request, __u32 phase)
{
	__u32 zero = 0;
	struct l7_redis_loop l;
	struct l7_redis_walk *w = bpf_map_lookup_elem(&l7_redis_scratch, &zero);

	if (!w)
		return NULL;
	__builtin_memset(w, 0, sizeof(*w));
	w->n = n;
	w->pending = phase == L7_REDIS_TYPE; /* an inline line is the whole message */
	w->start_phase = phase;
	w->request = request;
	w->phase = phase;
	l.w = w;
	l.buf = buf;
	bpf_loop(L7_PEEK, l7_redis_step, &l, 0);
	return w;
}

/* Copies buf[at..at+len) upper-cased into m->op when it is a plausible command name (1 then). */
static __always_inline int l7_redis_command_word(const __u8 *buf, __u32 n, __u32 at, __u32 len, struct l7_message *m)
{
	char word[L7_OP_MAX] = {};

	if (len == 0 || len > L7_REDIS_NAME_MAX || at >= n || !l7_redis_letter(buf[at & (L7_PEEK - 1)]))
		return 0;
	/* The bytes we see must all be name bytes (at least the first L7_OP_MAX - 1). */
	for (__u32 k = 0; k < L7_OP_MAX - 1; k++) {
		__u8 c;

		if (k >= len)
			break;
		if (at + k >= n)
			return 0;
		c = buf[(at + k) & (L7_PEEK - 1)];
		if (!l7_redis_name_char(c))
			return 0;
		word[k] = (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c;
	}
	if (len <= L7_OP_MAX - 1)
		__builtin_memcpy(m->op, word, sizeof(word));
	return 1;
}

/* MORE when a second message starts in the buffer; the count when every byte was walked into whole messages. */
static __always_inline void l7_redis_counted(const struct l7_redis_walk *w, struct l7_message *m)
{
	if (w->first_end && w->first_end < w->n)
		m->flags |= L7_MSG_MORE;
	if (w->done == 1)
		m->messages = w->messages > 0xffff ? 0xffff : w->messages;
}

/* Whether the line ending just before `end` (past its '\n') ends with " HTTP/d.d": an HTTP
 * request line ("GET /x HTTP/1.1", HTTP/2's "PRI * HTTP/2.0") also reads as an inline command. */
static __always_inline int l7_redis_http1_line(const __u8 *buf, __u32 end)
{
	const char tail[] = " HTTP/";
	__u32 stop, at;

	if (end < 1)
		return 0;
	stop = end - 1; /* the '\n': the line's text ends here, or one before at a '\r' */
	if (stop >= 1 && buf[(stop - 1) & (L7_PEEK - 1)] == '\r')
		stop--;
	if (stop < 9)
		return 0;
	at = stop - 9; /* " HTTP/d.d" */
	for (__u32 k = 0; k < sizeof(tail) - 1; k++)
		if (buf[(at + k) & (L7_PEEK - 1)] != (__u8)tail[k])
			return 0;
	return 1;
}

/* A global function: the verifier checks it once, on its own, instead of along every path of
 * the syscall program that reaches the dispatch (which would exceed its budget). */
__attribute__((noinline)) int l7_redis_request_bytes(const struct l7_peek *peek, __u32 n, struct l7_message *m)
{
	const __u8 *buf;
	struct l7_redis_walk *w;
	__u32 len = 0;

	if (!peek || !m)
		return 0;
	buf = peek->b;
	__builtin_memset(m, 0, sizeof(*m));
	if (n < 3)
		return 0;
	if (buf[0] == '*') {
		w = l7_redis_walk(buf, n, 1, L7_REDIS_TYPE);
		/* The command word is the first bulk string; the rest of the request may lie
		 * past the peeked bytes, but what we saw must be RESP. */
		if (!w || (w->done < 0 && !w->messages) || w->word_len == 0)
			return 0;
		if (w->word_at + w->word_len + 2 <= n && buf[(w->word_at + w->word_len) & (L7_PEEK - 1)] != '\r')
			return 0;
		if (!l7_redis_command_word(buf, n, w->word_at, w->word_len, m))
			return 0;
	} else {
		/* Inline: the first word ends at a space or the line's end, within the peeked line. */
		for (__u32 k = 0; k < L7_REDIS_NAME_MAX + 1; k++) {
			__u8 c;

			if (k >= n)
				return 0;
			c = buf[k & (L7_PEEK - 1)];
			if (c == ' ' || c == '\r' || c == '\n')
				break;
			len = k + 1;
		}
		w = l7_redis_walk(buf, n, 0, L7_REDIS_LINE);
		if (!w || !w->first_end)
			return 0;
		/* "\r" must be followed by "\n": an inline line ends with CRLF or LF. */
		if (buf[len & (L7_PEEK - 1)] == '\r' && w->first_end != len + 2)
			return 0;
		if (l7_redis_http1_line(buf, w->first_end))
			return 0;
		if (!l7_redis_command_word(buf, n, 0, len, m))
			return 0;
	}
	l7_redis_counted(w, m);
	return 1;
}

/* A global function: the verifier checks it once, on its own, instead of along every path of
 * the syscall program that reaches the dispatch (which would exceed its budget). */
__attribute__((noinline)) int l7_redis_response_bytes(const struct l7_peek *peek, __u32 n, struct l7_message *m)
{
	const __u8 *buf;
	struct l7_redis_walk *w;
	__u8 type;

	if (!peek || !m)
		return 0;
	buf = peek->b;
	__builtin_memset(m, 0, sizeof(*m));
	if (n < 3)
		return 0;
	type = buf[0];
	if (type == '>')
		return 0; /* a push answers no request */
	w = l7_redis_walk(buf, n, 0, L7_REDIS_TYPE);
	if (!w || (w->done < 0 && !w->messages) || !w->first_line)
		return 0;
	m->error = type == '-' || type == '!';
	l7_redis_counted(w, m);
	return 1;
}

static __always_inline int l7_redis_request(const __u8 *buf, __u32 n, struct l7_message *m)
{
	return l7_redis_request_bytes((const struct l7_peek *)buf, n, m);
}

static __always_inline int l7_redis_response(const __u8 *buf, __u32 n, struct l7_message *m)
{
	return l7_redis_response_bytes((const struct l7_peek *)buf, n, m);
}

#endif /* BURNWATCH_L7_REDIS_BPF_H */
