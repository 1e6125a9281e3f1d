/* SPDX-License-Identifier: GPL-2.0 */
/* Masks id-like segments of a raw HTTP path in the kernel, so that /users/17 and
 * /users/18 are one series before any map entry is spent on them: each id segment
 * becomes the single character '0', which user space (agent/collectors/route.ts)
 * names {id} like any all-digit segment. The rules are route.ts's ID_SEGMENT shapes:
 * all digits; 16+ hex digits; a UUID; a 20+ character [A-Za-z0-9_-] token with a
 * digit; dates/versions/IPs (digit, then [0-9.:-]*, then a digit). The last fragment
 * of a truncated path is removed (user space names it {truncated}).
 *
 * Two bpf_loop passes over at most HTTP_PATH_MAX bytes: one classifies segments into
 * bit masks (chars to drop, chars to replace by '0'), one compacts. The scan state
 * lives in a per-CPU map value, not on the stack: the verifier tracks stack contents
 * exactly and would explore every combination of the per-segment flags (over its 1M
 * instruction budget), while map contents are unknown scalars to it. A program
 * preempted mid-scan by another on the same CPU (possible only on preemptible kernels)
 * can leave a mislabelled path for one request, never a lost or extra count. */
#ifndef BURNWATCH_HTTP_PATH_BPF_H
#define BURNWATCH_HTTP_PATH_BPF_H

struct http_path_scan {
	char in[HTTP_PATH_MAX];
	char out[HTTP_PATH_MAX];
	__u64 drop;  /* bit i: in[i] is left out */
	__u64 zero;  /* bit i: in[i] becomes '0' */
	__u32 n;     /* bytes of in[] that hold the path */
	__u32 truncated;
	__u32 seg;   /* index where the current segment starts */
	__u32 j;     /* output length (compaction pass) */
	__u32 digits;
	__u8 hex, uuid, token, date, first_digit, last_digit;
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct http_path_scan);
} http_path_scratch SEC(".maps");

/* bpf_loop's context must be on the stack: it carries the map value's address. */
struct http_path_loop {
	struct http_path_scan *scan;
};

static __always_inline __u64 http_path_bits_below(__u32 k)
{
	return k >= 64 ? ~0ULL : ((1ULL << k) - 1);
}

static __always_inline void http_path_segment_reset(struct http_path_scan *p, __u32 start)
{
	p->seg = start;
	p->digits = 0;
	p->hex = p->uuid = p->token = p->date = 1;
	p->first_digit = p->last_digit = 0;
}

static long http_path_classify(__u64 i, void *data)
{
	struct http_path_scan *p = ((struct http_path_loop *)data)->scan;
	if (i > HTTP_PATH_MAX)
		return 1;
	char c = (i < p->n && i < HTTP_PATH_MAX) ? p->in[i & (HTTP_PATH_MAX - 1)] : 0;
	__u32 pos = (__u32)i;
	if (c == '/' || c == 0) {
		__u32 len = pos > p->seg ? pos - p->seg : 0;
		if (len > 0) {
			__u64 seg_bits = http_path_bits_below(pos) & ~http_path_bits_below(p->seg);
			if (c == 0 && p->truncated) {
				p->drop |= seg_bits;
			} else if (p->digits == len || (p->hex && len >= 16) || (p->uuid && len == 36) ||
				   (p->token && len >= 20 && p->digits > 0) ||
				   (p->date && len >= 2 && p->first_digit && p->last_digit)) {
				__u64 first = 1ULL << (p->seg & 63);
				p->zero |= first;
				p->drop |= seg_bits & ~first;
			}
		}
		if (c == 0)
			return 1;
		http_path_segment_reset(p, pos + 1);
		return 0;
	}
	__u32 at = pos - p->seg;
	int digit = c >= '0' && c <= '9';
	int hexletter = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	if (digit)
		p->digits++;
	if (at == 0)
		p->first_digit = digit;
	p->last_digit = digit;
	if (!digit && !hexletter)
		p->hex = 0;
	if (at == 8 || at == 13 || at == 18 || at == 23) {
		if (c != '-')
			p->uuid = 0;
	} else if (!digit && !hexletter) {
		p->uuid = 0;
	}
	if (!digit && !letter && c != '_' && c != '-')
		p->token = 0;
	if (!digit && c != '.' && c != ':' && c != '-')
		p->date = 0;
	return 0;
}

static long http_path_compact(__u64 i, void *data)
{
	struct http_path_scan *p = ((struct http_path_loop *)data)->scan;
	if (i >= HTTP_PATH_MAX)
		return 1;
	__u64 bit = 1ULL << i;
	if (p->drop & bit)
		return 0;
	p->out[p->j & (HTTP_PATH_MAX - 1)] = (p->zero & bit) ? '0' : p->in[i];
	p->j++;
	return 0;
}

/* Rewrites `path` (HTTP_PATH_MAX bytes, NUL-padded; `full_len` is the path's real
 * length) in place with its id segments masked. Returns the length to key the series
 * by: the masked length, or HTTP_PATH_MAX + 1 for any truncated path — never the raw
 * length, which would split one route into a series per id length. */
static __always_inline __u16 http_path_mask(char *path, __s64 full_len)
{
	__u32 zero = 0;
	__u16 key_len = full_len <= 0 ? 0 : (full_len > HTTP_PATH_MAX ? HTTP_PATH_MAX + 1 : (__u16)full_len);
	/* Every id shape but the hex and UUID ones (16+ characters in a segment, so a path of 17+)
	 * has a digit: a short path without one (/hello, /api/orders) has nothing to mask, and
	 * skipping the scan is most of a hello-world request's route cost. The test is two word
	 * reads: a byte ^ '0' below 10 is a digit (exact: no borrow without one); the NUL padding
	 * past the path is not. */
	if (key_len <= 16) {
		__u64 w0, w1;
		__builtin_memcpy(&w0, path, 8); /* a stack copy's path may be unaligned: no cast */
		__builtin_memcpy(&w1, path + 8, 8);
		w0 ^= 0x3030303030303030ULL;
		w1 ^= 0x3030303030303030ULL;
		if (!(((w0 - 0x0a0a0a0a0a0a0a0aULL) & ~w0) & 0x8080808080808080ULL) &&
		    !(((w1 - 0x0a0a0a0a0a0a0a0aULL) & ~w1) & 0x8080808080808080ULL))
			return key_len;
	}
	struct http_path_scan *scan = bpf_map_lookup_elem(&http_path_scratch, &zero);
	if (!scan)
		return key_len;
	__builtin_memcpy(scan->in, path, HTTP_PATH_MAX);
	__builtin_memset(scan->out, 0, HTTP_PATH_MAX);
	scan->n = key_len > HTTP_PATH_MAX ? HTTP_PATH_MAX : key_len;
	scan->truncated = key_len > HTTP_PATH_MAX;
	scan->drop = scan->zero = 0;
	scan->j = 0;
	http_path_segment_reset(scan, 0);
	struct http_path_loop loop = { .scan = scan };
	bpf_loop(scan->n + 1, http_path_classify, &loop, 0);
	if (!scan->drop && !scan->zero)
		return key_len;
	bpf_loop(scan->n, http_path_compact, &loop, 0);
	__builtin_memcpy(path, scan->out, HTTP_PATH_MAX);
	return scan->truncated ? key_len : (__u16)(scan->j & 0xff);
}

#endif /* BURNWATCH_HTTP_PATH_BPF_H */
