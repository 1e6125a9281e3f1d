/* Go register ABI (ABIInternal, Go >= 1.17) as seen from a uprobe's pt_regs.
 * amd64: integer arguments in AX, BX, CX, DI, SI, R8, R9, R10, R11; the current
 * goroutine (g) in R14. Per-request state is keyed by (tgid, g) because goroutines
 * migrate between threads. */
#ifndef BURNWATCH_GO_ABI_BPF_H
#define BURNWATCH_GO_ABI_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#if defined(__TARGET_ARCH_x86)
#define GO_PARAM1(ctx) ((ctx)->ax)
#define GO_PARAM2(ctx) ((ctx)->bx)
#define GO_PARAM3(ctx) ((ctx)->cx)
#define GO_PARAM4(ctx) ((ctx)->di)
#define GO_PARAM5(ctx) ((ctx)->si)
#define GO_PARAM6(ctx) ((ctx)->r8)
#define GO_PARAM7(ctx) ((ctx)->r9)
#define GO_PARAM8(ctx) ((ctx)->r10)
#define GO_PARAM9(ctx) ((ctx)->r11)
#define GO_GOROUTINE(ctx) ((ctx)->r14)
/* x86 EFLAGS bits: a `jbe` jumps when CF or ZF is set. */
#define GO_FLAGS_CF 0x1
#define GO_FLAGS_ZF 0x40
#define GO_JBE_TAKEN(ctx) (((ctx)->flags & (GO_FLAGS_CF | GO_FLAGS_ZF)) != 0)
#elif defined(__TARGET_ARCH_arm64)
#define GO_PARAM1(ctx) ((ctx)->regs[0])
#define GO_PARAM2(ctx) ((ctx)->regs[1])
#define GO_PARAM3(ctx) ((ctx)->regs[2])
#define GO_PARAM4(ctx) ((ctx)->regs[3])
#define GO_PARAM5(ctx) ((ctx)->regs[4])
#define GO_PARAM6(ctx) ((ctx)->regs[5])
#define GO_PARAM7(ctx) ((ctx)->regs[6])
#define GO_PARAM8(ctx) ((ctx)->regs[7])
#define GO_PARAM9(ctx) ((ctx)->regs[8])
#define GO_GOROUTINE(ctx) ((ctx)->regs[28])
/* arm64 probes sit at the function entry; there is no branch to predict. */
#define GO_JBE_TAKEN(ctx) 0
#else
#error "unsupported architecture"
#endif

/* The attach cookie of a Go uprobe: the low 16 bits select the binary's offsets slot;
 * this bit says the probe sits on the stack-check `jbe` of the prologue. When that
 * branch is taken the function calls morestack and restarts from the top, so the
 * same call would be seen twice: such hits are skipped. */
#define GO_COOKIE_AT_JBE (1ULL << 16)
#define GO_COOKIE_SLOT(c) ((__u32)((c) & 0xffff))

static __always_inline int go_probe_is_restart(struct pt_regs *ctx, __u64 cookie)
{
	return (cookie & GO_COOKIE_AT_JBE) && GO_JBE_TAKEN(ctx);
}

struct go_goroutine_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

/* The key of the goroutine running this probe. */
static __always_inline struct go_goroutine_key go_current_goroutine(struct pt_regs *ctx)
{
	struct go_goroutine_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .g = GO_GOROUTINE(ctx) };
	return k;
}

/* A Go string header: {ptr, len}. */
struct go_string {
	__u64 ptr;
	__s64 len;
};

/* Copies at most `cap` bytes of a Go string into `dst`; returns the string's full length. */
static __always_inline __s64 go_read_string(void *dst, __u32 cap, __u64 header_addr)
{
	struct go_string s = {};
	if (bpf_probe_read_user(&s, sizeof(s), (void *)header_addr) != 0)
		return -1;
	if (s.len <= 0)
		return 0;
	__u32 n = s.len < cap ? (__u32)s.len : cap;
	/* Mask for the verifier; n <= cap already. */
	n &= 0xff;
	if (n > cap)
		n = cap;
	if (n && bpf_probe_read_user(dst, n, (void *)s.ptr) != 0)
		return -1;
	return s.len;
}

#endif
