// SPDX-License-Identifier: GPL-2.0
/* Test harness for the syscall-path protocol parsers (lib/l7_*.bpf.h), run with
 * BPF_PROG_TEST_RUN (test/l7-parsers-bpf.test.ts). Not attached to anything.
 *
 * User space fills a struct l7_parsers_test_ctx with the bytes of one read or write (at
 * most L7_PEEK of them, as the syscall programs copy), which parser to run and in which
 * direction; the program copies the bytes into a per-CPU map value (the parsers see map
 * memory in the real programs too, and are verified against it here), runs the parser
 * and writes its verdict and struct l7_message back into the context. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "l7_proto.bpf.h"
#include "l7_redis.bpf.h"
#include "l7_postgres.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* struct l7_parsers_test_ctx.parser */
#define L7_TEST_DISPATCH 0 /* l7_parse_request/l7_parse_response with ctx->proto */
#define L7_TEST_REDIS 1
#define L7_TEST_POSTGRES 2

struct l7_parsers_test_ctx {
	__u32 parser;   /* L7_TEST_* */
	__u32 response; /* 0: a request (the client's write), 1: a response */
	__u32 proto;    /* L7_TEST_DISPATCH: the connection's protocol so far (L7_PROTO_*) */
	__u32 n;        /* bytes in buf */
	__s32 ret;      /* out: the parser's return value */
	__u32 pad;
	struct l7_message m; /* out */
	__u8 buf[L7_PEEK];
	/* A micro-benchmark: the parser runs `repeat` more times (a syscall program cannot use
	 * BPF_PROG_TEST_RUN's own repeat), elapsed_ns is the time of those runs, bpf_ktime_get_ns. */
	__u32 repeat;
	__u32 pad2;
	__u64 elapsed_ns; /* out */
};

/* The bytes and the message live in map memory, as in bpf/l7_syscalls.bpf.c's l7_scratch. */
struct l7_parsers_test_buf {
	__u8 b[L7_PEEK];
	struct l7_message m;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_parsers_test_buf);
} l7_parsers_test_scratch SEC(".maps");

static __always_inline int run_parser(struct l7_parsers_test_ctx *ctx, struct l7_parsers_test_buf *b, __u32 n)
{
	struct l7_message *m = &b->m;
	switch (ctx->parser) {
	case L7_TEST_DISPATCH:
		return ctx->response ? l7_parse_response(ctx->proto, b->b, n, m) : l7_parse_request(ctx->proto, b->b, n, m);
	case L7_TEST_REDIS:
		return ctx->response ? l7_redis_response(b->b, n, m) : l7_redis_request(b->b, n, m);
	case L7_TEST_POSTGRES:
		return ctx->response ? l7_postgres_response(b->b, n, m) : l7_postgres_request(b->b, n, m);
	}
	return -4;
}

struct repeat_ctx {
	struct l7_parsers_test_ctx *ctx;
	struct l7_parsers_test_buf *b;
	__u32 n;
};

static long repeat_once(__u64 i, void *data)
{
	struct repeat_ctx *r = data;
	run_parser(r->ctx, r->b, r->n);
	return 0;
}

SEC("syscall")
int l7_parsers_test(struct l7_parsers_test_ctx *ctx)
{
	struct l7_parsers_test_buf *b;
	struct l7_message *m;
	__u32 zero = 0, n = ctx->n;
	int ret;

	if (n > L7_PEEK)
		return -1;
	b = bpf_map_lookup_elem(&l7_parsers_test_scratch, &zero);
	if (!b)
		return -2;
	if (bpf_probe_read_kernel(b->b, sizeof(b->b), ctx->buf))
		return -3;
	m = &b->m;
	/* The real scratch holds the previous event's message: a parser must not leave any of it. */
	__builtin_memset(m, 'Z', sizeof(*m));
	switch (ctx->parser) {
	case L7_TEST_DISPATCH:
		ret = ctx->response ? l7_parse_response(ctx->proto, b->b, n, m) : l7_parse_request(ctx->proto, b->b, n, m);
		break;
	case L7_TEST_REDIS:
		ret = ctx->response ? l7_redis_response(b->b, n, m) : l7_redis_request(b->b, n, m);
		break;
	case L7_TEST_POSTGRES:
		ret = ctx->response ? l7_postgres_response(b->b, n, m) : l7_postgres_request(b->b, n, m);
		break;
	default:
		return -4;
	}
	ctx->ret = ret;
	__builtin_memcpy(&ctx->m, m, sizeof(*m));
	if (ctx->repeat) {
		struct repeat_ctx r = { .ctx = ctx, .b = b, .n = n };
		__u64 t0 = bpf_ktime_get_ns();
		bpf_loop(ctx->repeat, repeat_once, &r, 0);
		ctx->elapsed_ns = bpf_ktime_get_ns() - t0;
	}
	return 0;
}
