// SPDX-License-Identifier: GPL-2.0
/* Test harness for lib/exphist.bpf.h, run with BPF_PROG_TEST_RUN (test/exphist-bpf.test.ts).
 *
 * User space writes up to EXPHIST_TEST_N nanosecond values into exphist_test_io[0].in,
 * runs the program with a context { scale, count }, and reads the bucket indices from
 * exphist_test_io[0].out. The return value is the count processed, or negative on bad
 * input. Not attached to anything. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "exphist.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define EXPHIST_TEST_N 4096

struct exphist_test_io {
	__u64 in[EXPHIST_TEST_N];
	__s32 out[EXPHIST_TEST_N];
};

struct exphist_test_args {
	__s32 scale;
	__u32 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exphist_test_io);
} exphist_test_io SEC(".maps");

struct exphist_test_loop {
	struct exphist_test_io *io;
	int scale;
};

static long exphist_test_one(__u64 i, void *data)
{
	struct exphist_test_loop *l = data;

	if (i >= EXPHIST_TEST_N)
		return 1;
	l->io->out[i] = exphist_index(l->io->in[i], l->scale);
	return 0;
}

SEC("syscall")
int exphist_test(struct exphist_test_args *args)
{
	struct exphist_test_loop l;
	__u32 zero = 0, count = args->count;

	if (count > EXPHIST_TEST_N)
		return -1;
	l.scale = args->scale;
	l.io = bpf_map_lookup_elem(&exphist_test_io, &zero);
	if (!l.io)
		return -2;
	bpf_loop(count, exphist_test_one, &l, 0);
	return count;
}
