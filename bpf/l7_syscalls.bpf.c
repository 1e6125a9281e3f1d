// SPDX-License-Identifier: GPL-2.0
/* Application-level RED for any language, from syscall tracepoints only (no kprobes):
 * requests and responses on a process's TCP connections matched in the kernel, their
 * duration measured there, aggregated like the Go uprobe path (same series scheme, same
 * in-kernel path masking, same per-process series cap and overflow series).
 *
 *   syscalls:sys_enter_<call>  accept/accept4/connect: remember the call (per thread);
 *                     read/readv/recvfrom/recvmsg, write/writev/sendto/sendmsg on a tracked
 *                     (tgid, fd): remember the buffer; close: forget the connection
 *   syscalls:sys_exit_<call>   accept*: a new inbound connection (TCP only) → tracked as server;
 *                     connect (0 or EINPROGRESS): tracked as client, with its peer;
 *                     a read/write that moved bytes: its first L7_PEEK bytes are parsed
 *                     (lib/l7_proto.bpf.h) and matched against the connection's state
 *
 * Why the per-syscall tracepoints and not the raw sys_enter/sys_exit pair: the raw pair runs
 * for every syscall of every process on the host (futex, epoll_wait, nanosleep...), 18 runs
 * per hello-world request against 4-6 here (docs/syscall-l7.md, bench/syscall-l7.ts). Every
 * syscall record has the same layout (its number, then its arguments or its return value), so
 * one program per direction is attached to all of the calls' tracepoints; only close (one
 * argument: a program may not read past the shortest record it is attached to) and recvfrom
 * (its flags are the fourth argument) have wrappers of their own around the same body.
 *
 * Matching, per connection: the process as server reads a request and writes its response;
 * as client it writes the request and reads the response. A request starts at the
 * read/write that carries its first line; it ends at the response's status line, or, for a
 * chunked body, at the read/write that ends with the zero-size chunk. Keep-alive needs
 * nothing more. Pipelined requests (a request while one is in flight, or bytes after a
 * request's head that are not its body) are never matched: the connection is marked, and
 * each response head seen on it from then on is counted as L7_DROP_PIPELINED (an unmatched
 * request) instead of being measured — exact when each response starts a read/write of its
 * own (a server writing responses one by one), an undercount of the unmatched when several
 * responses share one read/write (a client reading them in one go); never a wrong duration.
 * Connections accepted or connected before the programs were attached are not tracked.
 * TLS and HTTP/2 connections are recognised on their first bytes and only counted
 * (connections, bytes). A process whose HTTP or DB calls Go uprobes measure (l7_coverage)
 * is skipped for those kinds, so nothing is counted twice. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "l7_syscalls.h"
#include "http_path.bpf.h"
#include "l7_proto.bpf.h"

char LICENSE[] SEC("license") = "GPL";

const volatile int hist_scale = 5;
const volatile __u64 max_series_per_process = 512;
/* The agent's own process: its traffic (the OTLP export) is not a service's. */
const volatile __u32 agent_tgid = 0;
/* The key of the series-id hash: random, from the agent, so a client cannot craft two routes
 * with one id (and a collision is caught anyway, see struct l7_series_key). */
const volatile __u64 series_seed = 0;
/* Bits of the hash kept in an id: all but in tests, which force collisions with fewer. */
const volatile __u64 series_id_mask = ~0ULL;

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define EINPROGRESS 115
#define MSG_PEEK 2

#if defined(__TARGET_ARCH_x86)
#define NR_READ 0
#define NR_WRITE 1
#define NR_CLOSE 3
#define NR_READV 19
#define NR_WRITEV 20
#define NR_CONNECT 42
#define NR_ACCEPT 43
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
#define NR_ACCEPT4 288
#elif defined(__TARGET_ARCH_arm64)
#define NR_READ 63
#define NR_WRITE 64
#define NR_CLOSE 57
#define NR_READV 65
#define NR_WRITEV 66
#define NR_CONNECT 203
#define NR_ACCEPT 202
#define NR_SENDTO 206
#define NR_RECVFROM 207
#define NR_SENDMSG 211
#define NR_RECVMSG 212
#define NR_ACCEPT4 242
#else
#error "unsupported architecture"
#endif

/* How a pending call's buffer is described. */
#define BUF_PLAIN 0 /* a pointer */
#define BUF_IOVEC 1 /* a struct iovec array (readv/writev) */
#define BUF_MSGHDR 2 /* a struct user_msghdr (recvmsg/sendmsg) */
#define IOV_MAX_SEEN 8

#define CALL_READ 0
#define CALL_WRITE 1
#define CALL_ACCEPT 2
#define CALL_CONNECT 3

/* A syscall between its enter and exit, per thread. */
struct l7_pending {
	__u64 buf;
	__u32 fd;
	__u8 call;     /* CALL_* */
	__u8 buf_kind; /* BUF_* */
	__u16 iovcnt;
	__u32 active;  /* set at the enter, cleared at the exit: the slot lives as long as the thread */
	__u32 pad;
};

struct l7_iov {
	__u64 base;
	__u64 len;
};

/* What one event needs beside the stack: the peeked bytes, the parsed message, iovecs. */
struct l7_scratch {
	/* The peeked bytes at raw[L7_CARRY…], the connection's carried bytes just before them; the
	 * last L7_PEEK bytes are room for a bounded copy from a later iovec (see on_data). */
	__u8 raw[L7_CARRY + 2 * L7_PEEK];
	struct l7_message msg;
	struct l7_iov iov[IOV_MAX_SEEN];
	struct l7_series series; /* the request that ended, when its connection has no id for it */
	struct l7_conn conn;     /* a new connection's entry (off the 512-byte stack) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_scratch);
} l7_scratch SEC(".maps");

/* The thread's call in flight, in task-local storage: no hashing, no bucket lock, no entry
 * left behind by a thread that dies inside a call (the storage goes with the task). A hash
 * map keyed by thread id cost an update at every enter and a lookup and a delete at every
 * exit (docs/syscall-l7.md, "Cost"). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct l7_pending);
} l7_pending SEC(".maps");
/* Tracked connections: a full map refuses (and counts) a new one. The agent removes the
 * entries of exited processes (a process may exit without closing). */
INFLIGHT_MAP(l7_conns, struct l7_conn_key, struct l7_conn, 65536);

/* Written by the agent: tgid → L7_COVER_* bits of what Go uprobes measure for it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u32);
} l7_coverage SEC(".maps");

/* Bumped by the agent after each change to l7_coverage: connections' cached bits of an older
 * version are looked up again (an array: its lookup is inlined, the hash's is not). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} l7_coverage_version SEC(".maps");

GENERATION_CONTROL_MAP(l7_control);
DROP_COUNTER_MAP(l7_dropped, L7_DROP_REASONS);
/* Per (pid, bucket, series id): its count and its durations' sum, min and max — one lookup per
 * request, with a 16-byte key (the series itself, as key, was 120 bytes to hash and compare). A
 * bucket's own stats add up to the series' exactly (the agent sums the counts and sums, takes
 * the least min and the greatest max) (docs/syscall-l7.md, "Cost"). */
GENERATION_HASH_MAPS(l7_buckets, struct l7_bucket_key, struct http_stats, 32768);
/* The names of the ids in l7_buckets, per generation: (pid, id) → the series. Written when a
 * series is first recorded in the generation (counted against the per-process cap); read when a
 * connection has no id for its request yet (the full series is compared: a collision is caught).
 * Overflow series have a map of their own, not capped, so a series that cannot be named (the cap,
 * a full l7_series_seen) still has a name to be recorded under. */
#define SERIES_NAME_MAPS(name, entries)                         \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_HASH);                \
		__uint(max_entries, entries);                   \
		__type(key, struct l7_series_key);              \
		__type(value, struct l7_series);                \
	} name##_0 SEC(".maps"), name##_1 SEC(".maps")
SERIES_NAME_MAPS(l7_series_seen, 8192);
SERIES_NAME_MAPS(l7_overflow_seen, 4096);
/* Per generation, a number the agent bumps once the generation is retired (after its swap, before
 * it is current again): a connection's cached series id is valid only in the epoch it was named in. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} l7_epochs SEC(".maps");
GENERATION_HASH_MAPS(l7_opaque, struct l7_opaque_key, struct l7_opaque_stats, 4096);
/* pid → new series created in the generation */
GENERATION_COUNTER_MAPS(l7_new_series, __u32, 8192);

static __always_inline __u8 kind_of(const struct l7_conn *c)
{
	if (c->protocol == L7_PROTO_HTTP1)
		return c->role == L7_ROLE_SERVER ? L7_KIND_HTTP_SERVER : L7_KIND_HTTP_CLIENT;
	return L7_KIND_DB_CLIENT;
}

static __always_inline __u32 coverage_bit(__u8 kind)
{
	return kind == L7_KIND_HTTP_SERVER ? L7_COVER_HTTP_SERVER : kind == L7_KIND_HTTP_CLIENT ? L7_COVER_HTTP_CLIENT : L7_COVER_DB;
}

/* Whether Go uprobes measure the requests of `c` (a connection whose protocol is known):
 * then nothing on it is copied or parsed. */
static __always_inline int covered_by_uprobes(__u32 tgid, struct l7_conn *c)
{
	__u32 zero = 0;
	__u32 *version = bpf_map_lookup_elem(&l7_coverage_version, &zero);
	__u32 stamp = (version ? *version : 0) + 1;
	if (c->cover_stamp != stamp) {
		__u32 *covered = bpf_map_lookup_elem(&l7_coverage, &tgid);
		c->cover_bits = covered ? (__u8)*covered : 0;
		c->cover_stamp = stamp;
	}
	if (!(c->cover_bits & coverage_bit(kind_of(c))))
		return 0;
	if (c->state != L7_CONN_IDLE)
		drop_count(&l7_dropped, L7_DROP_HANDOFF);
	c->state = L7_CONN_IDLE;
	c->start_ns = 0;
	return 1;
}

/* The thread's call until its exit. Only a storage the kernel cannot allocate is a drop. */
static __always_inline void remember_call(const struct l7_pending *p)
{
	struct l7_pending *slot = bpf_task_storage_get(&l7_pending, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!slot) {
		drop_count(&l7_dropped, L7_DROP_PENDING_MAP_FULL);
		return;
	}
	*slot = *p;
	slot->active = 1;
}

/* A syscalls:sys_enter_<call> record: the layout every syscall's shares (format files in
 * tracefs events/syscalls/). Only the first three arguments are read here: each call this
 * program is attached to has at least three, so no read passes the end of a record. */
struct l7_enter_record {
	__u64 common;
	int nr;
	unsigned long args[3];
};

/* A syscalls:sys_exit_<call> record. */
struct l7_exit_record {
	__u64 common;
	int nr;
	long ret;
};

/* Where a read/write/accept/connect starts; `flags` is the recv flags of recvfrom/recvmsg. */
static __always_inline void on_enter(long nr, __u32 fd, __u64 arg2, __u64 arg3, __u64 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == agent_tgid)
		return;
	struct l7_pending p = {};
	p.fd = fd;
	if (nr == NR_ACCEPT || nr == NR_ACCEPT4 || nr == NR_CONNECT) {
		p.call = nr == NR_CONNECT ? CALL_CONNECT : CALL_ACCEPT;
		remember_call(&p);
		return;
	}
	/* Every read/write is remembered (a task-local store) and its connection looked up at the
	 * exit, once, and only when it moved bytes: one hash lookup per call instead of one at each
	 * end, none for the calls that would block (EAGAIN). */
	/* A peek (nginx peeks one byte of a new TLS connection) is read again for real. */
	if (flags & MSG_PEEK)
		return;
	p.buf = arg2;
	p.iovcnt = 1;
	if (nr == NR_READ || nr == NR_RECVFROM || nr == NR_WRITE || nr == NR_SENDTO) {
		p.buf_kind = BUF_PLAIN;
	} else if (nr == NR_READV || nr == NR_WRITEV) {
		p.buf_kind = BUF_IOVEC;
		p.iovcnt = (__u16)arg3;
	} else {
		p.buf_kind = BUF_MSGHDR;
	}
	p.call = (nr == NR_WRITE || nr == NR_SENDTO || nr == NR_WRITEV || nr == NR_SENDMSG) ? CALL_WRITE : CALL_READ;
	remember_call(&p);
}

/* read, readv, recvmsg, write, writev, sendto, sendmsg, connect, accept, accept4. */
SEC("tracepoint")
int l7_enter(struct l7_enter_record *ctx)
{
	on_enter(ctx->nr, (__u32)ctx->args[0], ctx->args[1], ctx->args[2], ctx->nr == NR_RECVMSG ? ctx->args[2] : 0);
	return 0;
}

/* recvfrom: its flags are the fourth argument. */
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int l7_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	on_enter(NR_RECVFROM, (__u32)ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3]);
	return 0;
}

/* close: the connection is forgotten. */
SEC("tracepoint/syscalls/sys_enter_close")
int l7_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (tgid == agent_tgid)
		return 0;
	struct l7_conn_key ck = { .tgid = tgid, .fd = (__u32)ctx->args[0] };
	struct l7_conn *c = bpf_map_lookup_elem(&l7_conns, &ck);
	if (!c)
		return 0;
	if (c->state == L7_CONN_REQUEST || c->state == L7_CONN_BODY)
		drop_count(&l7_dropped, L7_DROP_UNFINISHED);
	bpf_map_delete_elem(&l7_conns, &ck);
	return 0;
}

/* The TCP socket behind the current process's `fd`, or NULL. */
static __always_inline struct sock *tcp_sock_of_fd(__u32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	if (!fds || fd >= max)
		return 0;
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	if (!f)
		return 0;
	/* A socket file's private_data is its struct socket, which points back at the file. */
	struct socket *so = BPF_CORE_READ(f, private_data);
	if (!so || BPF_CORE_READ(so, file) != f || BPF_CORE_READ(so, type) != SOCK_STREAM)
		return 0;
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return sk;
}

/* Returns 0 when the connection is tracked. */
static __always_inline int track_connection(__u32 tgid, __u32 fd, __u8 role)
{
	struct sock *sk = tcp_sock_of_fd(fd);
	if (!sk)
		return -1;
	__u32 zero = 0;
	struct l7_scratch *x = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!x)
		return -1;
	struct l7_conn *c = &x->conn;
	__builtin_memset(c, 0, sizeof(*c));
	c->role = role;
	c->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (c->family == AF_INET) {
		__u32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(c->addr, &daddr, 4);
	} else
		BPF_CORE_READ_INTO(&c->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	c->port = role == L7_ROLE_SERVER ? BPF_CORE_READ(sk, __sk_common.skc_num) : bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	struct l7_conn_key ck = { .tgid = tgid, .fd = fd };
	/* An fd number reused without a close we saw (close_range, dup2) starts afresh. */
	if (bpf_map_update_elem(&l7_conns, &ck, c, BPF_ANY)) {
		drop_count(&l7_dropped, L7_DROP_CONN_MAP_FULL);
		return -1;
	}
	return 0;
}

/* Whether a read/write that moved `total` bytes on an fd not tracked begins an HTTP/1 request:
 * a method token (3..7 upper-case letters), a space, and '/' when it fits in the 8 bytes
 * looked at. This runs for every read/write on the host that moved bytes on an fd not
 * tracked (files, pipes, connections older than the programs), so it copies 8 bytes, not the
 * peek, and asks the file table whether the fd is a TCP socket only when they match. */
static __always_inline int starts_http1_request(const struct l7_pending *p, __u64 total)
{
	if (total < 8)
		return 0;
	__u64 base = p->buf;
	if (p->buf_kind != BUF_PLAIN) {
		__u64 iov = p->buf;
		if (p->buf_kind == BUF_MSGHDR) {
			struct user_msghdr mh;
			if (bpf_probe_read_user(&mh, sizeof(mh), (void *)p->buf) || mh.msg_iovlen == 0)
				return 0;
			iov = (__u64)mh.msg_iov;
		} else if (p->iovcnt == 0) {
			return 0;
		}
		struct l7_iov first;
		if (bpf_probe_read_user(&first, sizeof(first), (void *)iov) || first.len < 8)
			return 0;
		base = first.base;
	}
	__u8 b[8];
	if (bpf_probe_read_user(b, sizeof(b), (void *)base))
		return 0;
	int space = 0;
	for (int i = 0; i < 8; i++) {
		if (b[i] == ' ') {
			space = i;
			break;
		}
		if (b[i] < 'A' || b[i] > 'Z')
			return 0;
	}
	return space >= 3 && (space == 7 || b[space + 1] == '/');
}

/* A connection accepted or connected before the programs were attached, seen at its first
 * request: adopted as if its accept (a request read: the process serves it) or its connect (a
 * request written: the process is the client) had been seen. Returns 0 when it was; not when
 * the fd is not a TCP socket or the bytes do not start a request.
 * A global function, verified once on its own: inlined, the verifier walked the whole parse
 * once more for the adopted connection and passed its 1M-instruction limit. Its arguments are
 * scalars (a global function takes at most five): the call packed as in struct l7_pending. */
__noinline int adopt_connection(__u64 tgid_fd, __u64 buf, __u64 kind_call_iovcnt, __u64 total)
{
	struct l7_pending p = {
		.buf = buf,
		.fd = (__u32)tgid_fd,
		.buf_kind = (__u8)kind_call_iovcnt,
		.call = (__u8)(kind_call_iovcnt >> 8),
		.iovcnt = (__u16)(kind_call_iovcnt >> 16),
	};
	if (!starts_http1_request(&p, total))
		return -1;
	return track_connection(tgid_fd >> 32, p.fd, p.call == CALL_READ ? L7_ROLE_SERVER : L7_ROLE_CLIENT);
}

/* Word-wise compare and copy of 8-aligned fields (checked below): a memcpy from a char array
 * compiles to byte loads (clang cannot tell its alignment), 8 instructions a word. */
#define ALIGNED8(type, field) _Static_assert(__builtin_offsetof(type, field) % 8 == 0, #type "." #field " must be 8-aligned")
ALIGNED8(struct l7_conn, op);
ALIGNED8(struct l7_conn, path);
ALIGNED8(struct l7_message, op);
ALIGNED8(struct l7_message, path);
ALIGNED8(struct l7_scratch, msg);
ALIGNED8(struct l7_scratch, series);
ALIGNED8(struct l7_series, op);
ALIGNED8(struct l7_series, path);
ALIGNED8(struct l7_series, addr);
ALIGNED8(struct l7_conn, addr);
_Static_assert(sizeof(struct l7_series) % 8 == 0, "struct l7_series is hashed and compared in words");

static __always_inline __u64 words_differ(const void *a, const void *b, int bytes)
{
	const __u64 *x = a, *y = b;
	__u64 diff = 0;
	for (int i = 0; i < bytes / 8; i++)
		diff |= x[i] ^ y[i];
	return diff;
}

static __always_inline void copy_words(void *to, const void *from, int bytes)
{
	__u64 *x = to;
	const __u64 *y = from;
	for (int i = 0; i < bytes / 8; i++)
		x[i] = y[i];
}

/* The keyed hash of a series (its 112 bytes as 14 words; the scratch copy is zeroed first, so
 * padding is 0). Per word a multiply-xorshift step, then the splitmix64 finaliser. */
static __always_inline __u64 series_hash(const struct l7_series *s)
{
	const __u64 *w = (const __u64 *)s;
	__u64 h = series_seed ^ 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < sizeof(*s) / 8; i++) {
		h ^= w[i];
		h *= 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h & series_id_mask;
}

static __always_inline int same_series(const struct l7_series *a, const struct l7_series *b)
{
	return !words_differ(a, b, sizeof(*a));
}

/* Whether `s` is the name of `k` in `names`, storing it when the id has none yet (`admit`: one more
 * series for the process is within its cap, asked only then). 0: named; 1: the id is another
 * series' (a collision); 2: not stored (the cap, or a full map). */
static __always_inline int name_series(void *names, const struct l7_series_key *k, const struct l7_series *s, void *caps)
{
	struct l7_series *have = bpf_map_lookup_elem(names, k);
	if (!have) {
		if (caps && !cardinality_admit(caps, k->pid, max_series_per_process, &l7_dropped, L7_DROP_SERIES_COUNTER_FULL))
			return 2;
		if (!bpf_map_update_elem(names, k, s, BPF_NOEXIST))
			return 0;
		have = bpf_map_lookup_elem(names, k); /* another CPU named it first, or the map is full */
		if (!have) {
			drop_count(&l7_dropped, L7_DROP_STATS_MAP_FULL);
			return 2;
		}
	}
	return same_series(have, s) ? 0 : 1;
}

/* The id of series `s` in generation `gen` into `*id`, its name stored: its own, or its overflow
 * series' when it cannot be named (the per-process cap, a full map, a collision). -1: no id (the
 * overflow series could not be named either: counted). */
static __always_inline int series_id(int gen, struct l7_series *s, __u64 *id)
{
	struct l7_series_key k = { .pid = s->pid, .id = series_hash(s) & ~(__u64)L7_SERIES_ID_OVERFLOW };
	int r = name_series(GENERATION_SELECT(gen, l7_series_seen), &k, s, GENERATION_SELECT(gen, l7_new_series));
	if (r == 0) {
		*id = k.id;
		return 0;
	}
	if (r == 1)
		drop_count(&l7_dropped, L7_DROP_SERIES_COLLISION);
	__builtin_memset(s->path, 0, HTTP_PATH_MAX);
	s->path_len = HTTP_PATH_LEN_OVERFLOW;
	k.id = series_hash(s) | L7_SERIES_ID_OVERFLOW;
	r = name_series(GENERATION_SELECT(gen, l7_overflow_seen), &k, s, 0);
	if (r == 1)
		drop_count(&l7_dropped, L7_DROP_SERIES_COLLISION);
	*id = k.id;
	return r ? -1 : 0;
}

/* One request on `c` that ended after `dur_ns` with `status`/`error`: its connection's cached id
 * when it has one for this op, path, status and error in this generation, else the series built,
 * hashed and named (x->series). */
static __always_inline void record(struct l7_scratch *x, __u32 tgid, struct l7_conn *c, __u16 status, __u8 error, __u64 dur_ns)
{
	int gen = generation_current(&l7_control);
	__u32 g = gen;
	__u32 *epoch = bpf_map_lookup_elem(&l7_epochs, &g);
	__u32 stamp = (epoch ? *epoch : 0) << 2 | (__u32)gen << 1 | 1;
	struct l7_bucket_key bk = { .pid = tgid, .bucket = exphist_index(dur_ns, hist_scale) };
	if (c->series_stamp == stamp && c->series_status == status && c->series_error == error) {
		bk.id = c->series_id;
	} else {
		struct l7_series *s = &x->series;
		__builtin_memset(s, 0, sizeof(*s));
		s->pid = tgid;
		s->kind = kind_of(c);
		s->protocol = c->protocol;
		s->status = status;
		s->error = error;
		copy_words(s->op, c->op, L7_OP_MAX);
		if (s->kind == L7_KIND_HTTP_SERVER || s->kind == L7_KIND_HTTP_CLIENT) {
			copy_words(s->path, c->path, HTTP_PATH_MAX);
			s->path_len = c->path_len;
		}
		if (s->kind != L7_KIND_HTTP_SERVER) {
			s->family = c->family;
			s->port = c->port;
			copy_words(s->addr, c->addr, 16);
		}
		if (series_id(gen, s, &bk.id))
			return;
		c->series_id = bk.id;
		c->series_stamp = stamp;
		c->series_status = status;
		c->series_error = error;
	}
	if (bk.id & L7_SERIES_ID_OVERFLOW)
		drop_count(&l7_dropped, L7_DROP_SERIES_OVERFLOW);
	struct http_stats zero = {};
	struct http_stats *st = lookup_or_init(GENERATION_SELECT(gen, l7_buckets), &bk, &zero, &l7_dropped, L7_DROP_BUCKET_MAP_FULL);
	if (!st)
		return;
	if (st->count == 0 || dur_ns < st->min_ns)
		st->min_ns = dur_ns;
	st->count += 1;
	st->sum_ns += dur_ns;
	if (dur_ns > st->max_ns)
		st->max_ns = dur_ns;
}

/* The request in flight on `c` ended now with `status`/`error`. */
static __always_inline void end_request(struct l7_scratch *x, __u32 tgid, struct l7_conn *c, __u16 status, __u8 error, __u64 now)
{
	__u64 dur = now - c->start_ns;
	c->state = L7_CONN_IDLE;
	c->start_ns = 0;
	record(x, tgid, c, status, error, dur);
}

/* The last 5 bytes of what the call moved (`total` bytes): the zero-size chunk ends a chunked body. */
static __always_inline int ends_last_chunk(struct l7_scratch *x, const struct l7_pending *p, __u64 total)
{
	__u8 tail[5] = {};
	if (total < 5)
		return 0;
	if (p->buf_kind == BUF_PLAIN) {
		if (bpf_probe_read_user(tail, 5, (void *)(p->buf + total - 5)))
			return 0;
	} else {
		/* Walk the iovecs to the one holding the end; the 5 bytes must lie in it. */
		__u64 left = total;
		int found = 0;
		for (int j = 0; j < IOV_MAX_SEEN; j++) {
			if (j >= p->iovcnt)
				break;
			__u64 len = x->iov[j].len;
			if (left <= len) {
				if (left < 5 || bpf_probe_read_user(tail, 5, (void *)(x->iov[j].base + left - 5)))
					return 0;
				found = 1;
				break;
			}
			left -= len;
		}
		if (!found)
			return 0;
	}
	return tail[0] == '0' && tail[1] == '\r' && tail[2] == '\n' && tail[3] == '\r' && tail[4] == '\n';
}

/* Whether the request in `m` (path masked) has the op and path of the connection's last one. */
static __always_inline int same_route(const struct l7_conn *c, const struct l7_message *m)
{
	return !(words_differ(c->op, m->op, L7_OP_MAX) | words_differ(c->path, m->path, HTTP_PATH_MAX));
}

/* PostgreSQL's unnamed statement: the word of its Parse is kept for an Execute of it sent
 * later without the text (lib/pq prepares, then binds and executes). Any other request
 * forgets it (a simple query destroys the unnamed statement): never a wrong word, at worst
 * EXECUTE. */
static __always_inline void name_unnamed_statement(struct l7_conn *c, struct l7_message *m)
{
	if (m->flags & L7_MSG_PREPARE)
		__builtin_memcpy(c->prepared_op, m->op, L7_OP_MAX);
	else if ((m->flags & L7_MSG_RUN_UNNAMED) && c->prepared_op[0])
		__builtin_memcpy(m->op, c->prepared_op, L7_OP_MAX);
	else if (!(m->flags & L7_MSG_RUN_UNNAMED))
		__builtin_memset(c->prepared_op, 0, L7_OP_MAX);
}

/* The whole messages of this read/write when the parser counted them and the peek held every
 * byte the call moved; L7_OWED_UNKNOWN otherwise. */
static __always_inline __u32 counted_messages(const struct l7_message *m, __u32 n, __u64 total)
{
	return m->messages && total == n ? m->messages : L7_OWED_UNKNOWN;
}

/* `k` more replies owed on a pipelined connection (k: counted_messages). */
static __always_inline void owe(struct l7_conn *c, __u32 k)
{
	__u32 owed = (__u32)c->owed + k;
	c->owed = c->owed == L7_OWED_UNKNOWN || k == L7_OWED_UNKNOWN || owed >= L7_OWED_UNKNOWN ? L7_OWED_UNKNOWN : owed;
}

static __always_inline void count_opaque(__u32 tgid, const struct l7_conn *c, int is_new, int sent, __u64 bytes)
{
	struct l7_opaque_key k = { .pid = tgid, .protocol = c->protocol, .role = c->role };
	struct l7_opaque_stats zero = {};
	struct l7_opaque_stats *s = lookup_or_init(GENERATION_MAP(&l7_control, l7_opaque), &k, &zero, &l7_dropped, L7_DROP_OPAQUE_MAP_FULL);
	if (!s)
		return;
	s->connections += is_new;
	if (sent)
		s->bytes_sent += bytes;
	else
		s->bytes_received += bytes;
}

static __always_inline void on_data(__u32 tgid, struct l7_conn *c, const struct l7_pending *p, __u64 total)
{
	__u32 zero = 0;
	struct l7_scratch *x = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!x)
		return;
	int sent = p->call == CALL_WRITE;
	if (c->protocol == L7_PROTO_TLS || c->protocol == L7_PROTO_HTTP2) {
		count_opaque(tgid, c, 0, sent, total);
		return;
	}

	/* The first bytes: from the buffer, or the iovecs (of a writev/readv or a msghdr) that hold them. */
	__u64 base = p->buf, len = total;
	if (p->buf_kind != BUF_PLAIN) {
		__u64 iov = p->buf;
		__u32 cnt = p->iovcnt;
		if (p->buf_kind == BUF_MSGHDR) {
			struct user_msghdr mh;
			if (bpf_probe_read_user(&mh, sizeof(mh), (void *)p->buf))
				return;
			iov = (__u64)mh.msg_iov;
			cnt = mh.msg_iovlen;
			((struct l7_pending *)p)->iovcnt = cnt > 0xffff ? 0xffff : cnt;
		}
		if (bpf_probe_read_user(x->iov, sizeof(x->iov), (void *)iov))
			__builtin_memset(x->iov, 0, sizeof(x->iov));
		base = x->iov[0].base;
		len = x->iov[0].len < total ? x->iov[0].len : total;
	}
	__u32 n = len > L7_PEEK ? L7_PEEK : (__u32)len;
	const __u8 *buf = x->raw + L7_CARRY;
	if (n == 0 || bpf_probe_read_user(x->raw + L7_CARRY, n & (L7_PEEK - 1) ? n & (L7_PEEK - 1) : L7_PEEK, (void *)base))
		return;
	/* A client that corks writes one message in several buffers (node-postgres: Parse, Bind,
	 * Describe, Execute, Sync as one writev of five): the first L7_PEEK bytes span them. */
	__u64 moved = len;
	for (int j = 1; j < IOV_MAX_SEEN && p->buf_kind != BUF_PLAIN; j++) {
		if (j >= p->iovcnt || n >= L7_PEEK || moved >= total)
			break;
		__u64 more = x->iov[j].len;
		if (more > total - moved)
			more = total - moved;
		if (more > L7_PEEK - n)
			more = L7_PEEK - n;
		/* n >= 1 here, so more < L7_PEEK, and n < L7_PEEK: the masks change nothing but show the
		 * verifier the bounds (barrier_var keeps clang from dropping the one it can prove). */
		__u32 size = (__u32)more & (L7_PEEK - 1), at = n;
		barrier_var(at);
		at &= L7_PEEK - 1;
		if (size && bpf_probe_read_user(x->raw + L7_CARRY + at, size, (void *)x->iov[j].base))
			break;
		n += more;
		moved += more;
	}

	if (c->protocol == L7_PROTO_UNKNOWN) {
		__u8 opaque = l7_opaque_protocol(buf, n);
		if (opaque) {
			c->protocol = opaque;
			count_opaque(tgid, c, 1, sent, total);
			return;
		}
	}
	__u64 now = bpf_ktime_get_ns();
	int request_dir = (c->role == L7_ROLE_SERVER) != sent;
	struct l7_message *m = &x->msg;
	if (request_dir) {
		/* A short read before this one may have taken a request's first bytes (Go's server
		 * reads one byte ahead on an idle keep-alive connection): parse them together. */
		__u32 k = c->carry_len;
		if (k > L7_CARRY)
			k = 0;
		for (int j = 0; j < L7_CARRY; j++)
			if (j < k)
				x->raw[(L7_CARRY - k + j) & (L7_CARRY - 1)] = c->carry[j];
		buf = x->raw + (L7_CARRY - k);
		n = n + k > L7_PEEK ? L7_PEEK : n + k;
		c->carry_len = 0;
		__u8 was_unknown = c->protocol == L7_PROTO_UNKNOWN;
		if (!l7_parse_request(c->protocol, buf, n, m)) {
			if (c->state == L7_CONN_IDLE && n < L7_CARRY) {
				__builtin_memcpy(c->carry, buf, L7_CARRY);
				c->carry_len = n;
				return;
			}
			/* Too few bytes to tell (a byte-at-a-time reader) decide nothing yet. */
			if (c->protocol == L7_PROTO_UNKNOWN && n >= 16)
				c->protocol = L7_PROTO_OTHER;
			return; /* a request's body, or bytes of no protocol we parse */
		}
		c->protocol = m->protocol;
		if (c->protocol == L7_PROTO_POSTGRES)
			name_unnamed_statement(c, m);
		if (m->flags & L7_MSG_SETUP)
			return; /* connection set-up (PostgreSQL start-up, SSLRequest): no request to match */
		if (c->role == L7_ROLE_SERVER && c->protocol != L7_PROTO_HTTP1) {
			/* Databases are measured at their clients (db.client.operation.duration): the
			 * server's side of the same calls would count each twice. Leave it alone. */
			c->protocol = L7_PROTO_OTHER;
			return;
		}
		if (c->state == L7_CONN_PIPELINED) {
			owe(c, counted_messages(m, n, total));
			return;
		}
		if (c->state == L7_CONN_BODY) {
			/* The previous response's status was seen but not its last chunk (the zero-size
			 * chunk split across two reads/writes): it ended, we cannot say when. */
			drop_count(&l7_dropped, L7_DROP_UNFINISHED);
			c->state = L7_CONN_IDLE;
			c->start_ns = 0;
		}
		/* A known protocol's coverage was looked up before the copy (l7_exit). */
		if (was_unknown && covered_by_uprobes(tgid, c))
			return;
		/* Bytes after this request's head that are not its body: another request. */
		int more = (m->flags & L7_MSG_MORE) && !(m->flags & L7_MSG_CHUNKED) &&
			   (m->body_len < 0 || (__u64)m->body_at + m->body_len < total);
		if (c->state != L7_CONN_IDLE || more) {
			/* Neither the one in flight nor this one is measured: each response is counted as
			 * an unmatched request instead, until the responses answer every request (when
			 * the parser counts both: Redis, PostgreSQL), or for good (HTTP/1). */
			c->owed = c->state != L7_CONN_IDLE; /* the one in flight */
			owe(c, counted_messages(m, n, total));
			c->state = L7_CONN_PIPELINED;
			c->start_ns = 0;
			return;
		}
		c->state = L7_CONN_REQUEST;
		c->start_ns = now;
		c->head = m->op[0] == 'H' && m->op[1] == 'E' && m->op[2] == 'A' && m->op[3] == 'D' && m->op[4] == 0;
		/* Masked in the scratch, then compared with the last request's: the connection's cached
		 * series id holds only while they are the same. */
		__u16 path_len = 0;
		if (m->protocol == L7_PROTO_HTTP1)
			path_len = http_path_mask(m->path, m->path_len);
		else
			__builtin_memset(m->path, 0, HTTP_PATH_MAX);
		if (path_len != c->path_len || !same_route(c, m)) {
			c->series_stamp = 0;
			c->path_len = path_len;
			copy_words(c->op, m->op, L7_OP_MAX);
			copy_words(c->path, m->path, HTTP_PATH_MAX);
		}
		return;
	}

	/* The response direction. */
	if (c->state == L7_CONN_BODY) {
		if (ends_last_chunk(x, p, total))
			end_request(x, tgid, c, c->status, c->error, now);
		return;
	}
	if ((c->state != L7_CONN_REQUEST && c->state != L7_CONN_PIPELINED) || !l7_parse_response(c->protocol, buf, n, m))
		return;
	if (m->flags & L7_MSG_INFORMATIONAL)
		return; /* 100 Continue: the final response follows */
	if (c->state == L7_CONN_PIPELINED) {
		__u32 k = counted_messages(m, n, total);
		if (c->owed == L7_OWED_UNKNOWN || k == L7_OWED_UNKNOWN || k > c->owed) {
			c->owed = L7_OWED_UNKNOWN;
			drop_count(&l7_dropped, L7_DROP_PIPELINED);
			return;
		}
		drop_add(&l7_dropped, L7_DROP_PIPELINED, k);
		c->owed -= k;
		if (c->owed == 0)
			c->state = L7_CONN_IDLE; /* every request answered: the next one is measured */
		return;
	}
	if ((m->flags & L7_MSG_CHUNKED) && !(m->flags & L7_MSG_NO_BODY) && !c->head && !ends_last_chunk(x, p, total)) {
		c->state = L7_CONN_BODY;
		c->status = m->status;
		c->error = m->error;
		return;
	}
	end_request(x, tgid, c, m->status, m->error, now);
}

/* Every call l7_enter and l7_enter_recvfrom are attached to. */
SEC("tracepoint")
int l7_exit(struct l7_exit_record *ctx)
{
	long ret = ctx->ret;
	struct l7_pending *pp = bpf_task_storage_get(&l7_pending, bpf_get_current_task_btf(), 0, 0);
	if (!pp || !pp->active)
		return 0;
	struct l7_pending p = *pp;
	pp->active = 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (p.call == CALL_ACCEPT) {
		if (ret >= 0)
			track_connection(tgid, (__u32)ret, L7_ROLE_SERVER);
		return 0;
	}
	if (p.call == CALL_CONNECT) {
		if (ret == 0 || ret == -EINPROGRESS)
			track_connection(tgid, p.fd, L7_ROLE_CLIENT);
		return 0;
	}
	if (ret <= 0)
		return 0;
	struct l7_conn_key ck = { .tgid = tgid, .fd = p.fd };
	struct l7_conn *c = bpf_map_lookup_elem(&l7_conns, &ck);
	if (!c) {
		if (adopt_connection((__u64)tgid << 32 | p.fd, p.buf, p.buf_kind | (__u64)p.call << 8 | (__u64)p.iovcnt << 16, (__u64)ret))
			return 0;
		c = bpf_map_lookup_elem(&l7_conns, &ck);
	}
	if (!c || c->protocol == L7_PROTO_OTHER)
		return 0;
	/* Requests Go uprobes measure (a Go server's, on keep-alive connections): nothing to copy
	 * or parse once the connection's first request has named its protocol. */
	if ((c->protocol == L7_PROTO_HTTP1 || c->protocol == L7_PROTO_REDIS || c->protocol == L7_PROTO_POSTGRES) &&
	    covered_by_uprobes(tgid, c))
		return 0;
	on_data(tgid, c, &p, (__u64)ret);
	return 0;
}
