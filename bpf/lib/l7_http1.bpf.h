/* SPDX-License-Identifier: GPL-2.0 */
/* HTTP/1.x request and response heads, for lib/l7_proto.bpf.h's dispatch.
 *
 * Request: METHOD (upper-case letters, 3..L7_OP_MAX-1 of them) SP origin-form path ('/…').
 * The path is cut at '?' (http.route never includes the query, as Go's URL.Path does not)
 * and copied up to HTTP_PATH_MAX bytes; path_len is its full length when the request line
 * ends within the peeked bytes, else HTTP_PATH_MAX + 1 (truncated).
 * Response: "HTTP/1.x SSS".
 * Both: the header block is scanned for Transfer-Encoding: chunked and Content-Length, and
 * for its end (the body's offset, and whether more bytes follow it in this buffer: a
 * pipelined request).
 *
 * One bpf_loop pass over the bytes with its state in a per-CPU map value, as
 * lib/http_path.bpf.h does: the verifier would otherwise explore every combination of the
 * per-byte flags. */
#ifndef BURNWATCH_L7_HTTP1_BPF_H
#define BURNWATCH_L7_HTTP1_BPF_H

#define L7_HTTP1_PATH 0     /* in the request path */
#define L7_HTTP1_QUERY 1    /* past '?': the query, not part of the route */
#define L7_HTTP1_LINE 2     /* the rest of the first line */
#define L7_HTTP1_NAME 3     /* a header's name */
#define L7_HTTP1_VALUE 4    /* a header's value we do not need */
#define L7_HTTP1_TE 5       /* Transfer-Encoding's value */
#define L7_HTTP1_CL 6       /* Content-Length's value */

struct l7_http1_scan {
	__u32 phase;
	__u32 line_start; /* offset where the current line starts */
	__u32 path_n;     /* bytes of the path seen (before '?') */
	__u32 n;          /* bytes in the buffer */
	__s64 body_len;
	__u32 chunked;
	__u32 body_at;    /* 0 until the header block's end is seen */
	__u32 cl_digits;
	__u32 pos;        /* the next byte to look at */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_http1_scan);
} l7_http1_scratch SEC(".maps");

struct l7_http1_loop {
	struct l7_http1_scan *s;
	const __u8 *buf;
	struct l7_message *m;
};

static __always_inline __u8 l7_lower(__u8 c)
{
	return (c >= 'A' && c <= 'Z') ? c | 0x20 : c;
}

#define L7_AT(buf, i) ((buf)[(i) & (L7_PEEK - 1)])
/* Non-zero when one of the eight bytes of v is zero; its lowest set bit (bit 7 of a byte) marks
 * the first zero byte exactly (a false mark can only sit above a true one). */
#define L7_HAS_ZERO_BYTE(v) (((v) - 0x0101010101010101ULL) & ~(v) & 0x8080808080808080ULL)
/* Marks of the bytes of w equal to c (as L7_HAS_ZERO_BYTE). */
#define L7_BYTES_EQ(w, c) L7_HAS_ZERO_BYTE((w) ^ (0x0101010101010101ULL * (__u8)(c)))

/* The index (0..7) of the lowest marked byte of a non-zero L7_HAS_ZERO_BYTE mask: the lowest
 * bit isolated is 1 << (8k + 7); times 0x0001020304050607 it puts k in the top byte (BPF has
 * no count-trailing-zeros instruction). */
static __always_inline __u32 l7_first_marked(__u64 marks)
{
	__u64 low = marks & -marks;
	return (__u32)(((low >> 7) * 0x0001020304050607ULL) >> 56);
}

/* Eight bytes of buf from i, in one load (x86 and arm64 load unaligned words; a byte-wise
 * memcpy would cost eight loads and the shifts to join them). */
static __always_inline __u64 l7_word_at(const __u8 *buf, __u32 i)
{
	return *(const __u64 *)&buf[i & (L7_PEEK - 1)];
}

/* m->path (zeroed) gets the path's first bytes: buf[from, from + path_n), at most HTTP_PATH_MAX. */
static __always_inline void l7_http1_copy_path(const __u8 *buf, __u32 from, __u32 path_n, struct l7_message *m)
{
	__u32 keep = path_n < HTTP_PATH_MAX ? path_n : HTTP_PATH_MAX;
	for (__u32 j = 0; j < HTTP_PATH_MAX; j += 8) {
		if (j >= keep)
			break;
		__u64 w = l7_word_at(buf, from + j);
		if (keep - j < 8)
			w &= (1ULL << ((keep - j) * 8)) - 1;
		*(__u64 *)&m->path[j] = w;
	}
}

/* Whether the header name in buf[start, start+len) is `name` (lower case, `len` bytes). */
static __always_inline int l7_http1_name_is(const __u8 *buf, __u32 start, __u32 len, const char *name, __u32 name_len)
{
	if (len != name_len)
		return 0;
	for (__u32 k = 0; k < 17; k++) {
		if (k >= name_len)
			break;
		if (l7_lower(L7_AT(buf, start + k)) != (__u8)name[k])
			return 0;
	}
	return 1;
}

static long l7_http1_scan_byte(__u64 i, void *data)
{
	struct l7_http1_loop *ctx = data;
	struct l7_http1_scan *s = ctx->s;
	const __u8 *buf = ctx->buf;
	i = s->pos;
	if (i >= s->n || i >= L7_PEEK)
		return 1;
	/* Outside the path and Content-Length's digits only a few bytes matter: a line break, and
	 * in a header name its colon, in the query the space ending it, in Transfer-Encoding's
	 * value a 'c'. Eight bytes are tested at once and the turn goes straight to the first that
	 * matters, or past all eight: a bpf_loop turn costs more than the word test. */
	if (s->phase != L7_HTTP1_CL && i + 8 <= s->n) {
		__u32 phase = s->phase;
		/* Only two header names matter (Transfer-Encoding, Content-Length): a line starting
		 * with any other letter is skipped to its end without looking for its colon. */
		if (phase == L7_HTTP1_NAME && i == s->line_start) {
			__u8 c0 = L7_AT(buf, i);
			if (c0 != '\r' && c0 != '\n' && (c0 | 0x20) != 't' && (c0 | 0x20) != 'c')
				phase = s->phase = L7_HTTP1_VALUE;
		}
		/* Up to four words a turn: a turn's state loads and stores cost more than a word. */
		__u64 marks = 0;
		for (int word = 0; word < 4; word++) {
			if (i + 8 > s->n)
				break;
			__u64 w = l7_word_at(buf, i);
			marks = L7_BYTES_EQ(w, '\n');
			if (phase == L7_HTTP1_NAME)
				marks |= L7_BYTES_EQ(w, ':');
			else if (phase == L7_HTTP1_QUERY)
				marks |= L7_BYTES_EQ(w, ' ');
			else if (phase == L7_HTTP1_TE)
				marks |= L7_BYTES_EQ(w | 0x2020202020202020ULL, 'c');
			else if (phase == L7_HTTP1_PATH) /* the path is copied once its length is known */
				marks |= L7_BYTES_EQ(w, ' ') | L7_BYTES_EQ(w, '?') | L7_BYTES_EQ(w, '\r');
			__u32 k = marks ? l7_first_marked(marks) : 8;
			if (phase == L7_HTTP1_PATH)
				s->path_n += k;
			i += k;
			if (marks)
				break;
		}
		if (!marks) {
			s->pos = i;
			return 0;
		}
	}
	s->pos = i + 1;
	__u8 c = L7_AT(buf, i);
	switch (s->phase) {
	case L7_HTTP1_PATH:
		if (c == ' ' || c == '?') {
			s->phase = c == ' ' ? L7_HTTP1_LINE : L7_HTTP1_QUERY;
			return 0;
		}
		if (c == '\r' || c == '\n')
			return 1; /* no protocol version: not HTTP/1 */
		s->path_n++;
		return 0;
	case L7_HTTP1_QUERY:
		if (c == ' ')
			s->phase = L7_HTTP1_LINE;
		return 0;
	case L7_HTTP1_NAME:
		if (c == ':') {
			__u32 len = (__u32)i - s->line_start;
			if (l7_http1_name_is(buf, s->line_start, len, "transfer-encoding", 17))
				s->phase = L7_HTTP1_TE;
			else if (l7_http1_name_is(buf, s->line_start, len, "content-length", 14))
				s->phase = L7_HTTP1_CL;
			else
				s->phase = L7_HTTP1_VALUE;
			return 0;
		}
		break;
	case L7_HTTP1_TE:
		if ((c | 0x20) == 'c' && i + 6 < s->n && l7_lower(L7_AT(buf, i + 1)) == 'h' && l7_lower(L7_AT(buf, i + 2)) == 'u' &&
		    l7_lower(L7_AT(buf, i + 3)) == 'n' && l7_lower(L7_AT(buf, i + 4)) == 'k' && l7_lower(L7_AT(buf, i + 5)) == 'e' &&
		    l7_lower(L7_AT(buf, i + 6)) == 'd')
			s->chunked = 1;
		break;
	case L7_HTTP1_CL:
		if (c >= '0' && c <= '9' && s->cl_digits < 18) {
			s->body_len = (s->body_len < 0 ? 0 : s->body_len) * 10 + (c - '0');
			s->cl_digits++;
		}
		break;
	}
	if (c == '\n') {
		/* An empty line ("\r\n" or "\n") ends the header block. */
		if (s->phase != L7_HTTP1_LINE && (__u32)i - s->line_start <= 1) {
			s->body_at = (__u32)i + 1;
			return 1;
		}
		s->line_start = (__u32)i + 1;
		s->phase = L7_HTTP1_NAME;
	}
	return 0;
}

/* Scans buf[from, n) in `phase`; fills m's header facts. Returns 0 when the bytes cannot be HTTP/1. */
static __always_inline int l7_http1_scan(const __u8 *buf, __u32 n, __u32 from, __u32 phase, struct l7_message *m)
{
	__u32 zero = 0;
	struct l7_http1_scan *s = bpf_map_lookup_elem(&l7_http1_scratch, &zero);
	if (!s)
		return 0;
	s->phase = phase;
	s->line_start = from;
	s->path_n = 0;
	s->n = n > L7_PEEK ? L7_PEEK : n;
	s->body_len = -1;
	s->chunked = 0;
	s->body_at = 0;
	s->cl_digits = 0;
	s->pos = from;
	struct l7_http1_loop loop = { .s = s, .buf = buf, .m = m };
	bpf_loop(s->n > from ? s->n - from : 0, l7_http1_scan_byte, &loop, 0); /* each turn moves 1 or 8 bytes */
	if (phase == L7_HTTP1_PATH) {
		if (s->phase == L7_HTTP1_PATH && s->path_n < s->n - from)
			return 0; /* the path ended in a line break */
		l7_http1_copy_path(buf, from, s->path_n, m);
		/* A request line cut by the peek: its path is longer than what we saw. */
		m->path_len = (s->phase == L7_HTTP1_PATH || s->phase == L7_HTTP1_QUERY) ? HTTP_PATH_MAX + 1 : (__s32)s->path_n;
	}
	m->body_len = s->body_len;
	m->body_at = s->body_at;
	if (s->chunked)
		m->flags |= L7_MSG_CHUNKED;
	if (s->body_at) {
		m->flags |= L7_MSG_HEAD_DONE;
		if (s->body_at < n)
			m->flags |= L7_MSG_MORE;
	}
	return 1;
}

static __always_inline int l7_http1_request(const __u8 *buf, __u32 n, struct l7_message *m)
{
	if (n < 6)
		return 0;
	__u32 mlen = 0;
	for (__u32 i = 0; i < L7_OP_MAX - 1; i++) {
		__u8 c = buf[i];
		if (c == ' ') {
			mlen = i;
			break;
		}
		if (c < 'A' || c > 'Z')
			return 0;
	}
	if (mlen < 3 || mlen + 1 >= n || L7_AT(buf, mlen + 1) != '/')
		return 0;
	__builtin_memset(m, 0, sizeof(*m));
	__builtin_memcpy(m->op, buf, L7_OP_MAX);
	/* The bytes after the method's space were copied too: clear them. */
	for (__u32 k = 3; k < L7_OP_MAX; k++)
		if (k >= mlen)
			m->op[k] = 0;
	return l7_http1_scan(buf, n, mlen + 1, L7_HTTP1_PATH, m);
}

static __always_inline int l7_http1_response(const __u8 *buf, __u32 n, struct l7_message *m)
{
	if (n < 12 || buf[0] != 'H' || buf[1] != 'T' || buf[2] != 'T' || buf[3] != 'P' || buf[4] != '/' || buf[5] != '1' ||
	    buf[6] != '.' || buf[8] != ' ')
		return 0;
	__u8 d0 = buf[9] - '0', d1 = buf[10] - '0', d2 = buf[11] - '0';
	if (d0 < 1 || d0 > 5 || d1 > 9 || d2 > 9)
		return 0;
	__builtin_memset(m, 0, sizeof(*m));
	m->status = d0 * 100 + d1 * 10 + d2;
	if (d0 == 1)
		m->flags |= L7_MSG_INFORMATIONAL;
	if (m->status == 204 || m->status == 304 || d0 == 1)
		m->flags |= L7_MSG_NO_BODY;
	return l7_http1_scan(buf, n, 12, L7_HTTP1_LINE, m);
}

#endif /* BURNWATCH_L7_HTTP1_BPF_H */
