// SPDX-License-Identifier: GPL-2.0
/* TCP per (process, peer): retransmits, resets, connect latency and failures, srtt.
 *
 *   tp_btf/inet_sock_set_state  SYN_SENT: an outbound connect starts (process context:
 *                               the socket's owner is the current process);
 *                               SYN_SENT → ESTABLISHED / CLOSE: connect done / failed;
 *                               LISTEN: remember the listening port's process;
 *                               → CLOSE: one srtt sample, forget the socket
 *   tp_btf/tcp_retransmit_skb   one retransmitted segment (+ an srtt sample)
 *   tp_btf/tcp_send_reset       a RST sent on a socket
 *   tp_btf/tcp_receive_reset    a RST received on a socket
 *
 * Retransmits and resets fire in softirq/timer context, where the current task is not
 * the socket's owner, so ownership is remembered when it is known, in an LRU map
 * (socket → process, deleted at close; evictions derived from the insert and delete
 * counters): outbound sockets at connect, accepted ones at ESTABLISHED through the
 * listening port's process (recorded at listen). Sockets opened before the agent
 * started are attributed to no process (tgid 0, reported for the host). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "tcp.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

const volatile int hist_scale = 5;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct tcp_sock_owner);
} tcp_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u16); /* local port */
	__type(value, __u32); /* tgid */
} tcp_listeners SEC(".maps");

GENERATION_CONTROL_MAP(tcp_control);
DROP_COUNTER_MAP(tcp_dropped, TCP_DROP_REASONS);
GENERATION_HASH_MAPS(tcp_stats, struct tcp_peer, struct tcp_peer_stats, 16384);
GENERATION_HASH_MAPS(tcp_hist, struct tcp_hist_key, __u64, 32768);

/* The other end of `sk` and, when known, the process that owns it. */
static __always_inline void peer_of(const struct sock *sk, struct tcp_peer *p, struct tcp_sock_owner **owner)
{
	__builtin_memset(p, 0, sizeof(*p));
	p->family = sk->__sk_common.skc_family;
	if (p->family == AF_INET)
		__builtin_memcpy(p->addr, &sk->__sk_common.skc_daddr, 4);
	else
		BPF_CORE_READ_INTO(&p->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);

	__u64 key = (__u64)sk;
	*owner = bpf_map_lookup_elem(&tcp_socks, &key);
	if (*owner) {
		p->tgid = (*owner)->tgid;
		p->direction = (*owner)->direction;
		p->port = p->direction == TCP_DIR_INBOUND ? (*owner)->local_port : bpf_ntohs(sk->__sk_common.skc_dport);
		return;
	}
	__u16 lport = sk->__sk_common.skc_num;
	__u32 *listener = bpf_map_lookup_elem(&tcp_listeners, &lport);
	if (listener) {
		p->tgid = *listener;
		p->direction = TCP_DIR_INBOUND;
		p->port = lport;
	} else {
		p->direction = TCP_DIR_OUTBOUND;
		p->port = bpf_ntohs(sk->__sk_common.skc_dport);
	}
}

static __always_inline struct tcp_peer_stats *stats_of(const struct tcp_peer *p)
{
	struct tcp_peer_stats zero = {};
	return lookup_or_init(GENERATION_MAP(&tcp_control, tcp_stats), p, &zero, &tcp_dropped, TCP_DROP_STATS_MAP_FULL);
}

static __always_inline void record_hist(const struct tcp_peer *p, __u32 kind, __u64 ns)
{
	struct tcp_hist_key k = { .peer = *p, .kind = kind, .bucket = exphist_index(ns, hist_scale) };
	count_one(GENERATION_MAP(&tcp_control, tcp_hist), &k, &tcp_dropped, TCP_DROP_HIST_MAP_FULL);
}

static __always_inline void sample_srtt(const struct sock *sk, const struct tcp_peer *p, struct tcp_peer_stats *s)
{
	/* srtt_us holds 8 × the smoothed RTT in µs. */
	__u32 srtt_us = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
	if (!srtt_us)
		return;
	__u64 ns = (__u64)srtt_us * 1000;
	s->srtt_samples += 1;
	s->srtt_sum_ns += ns;
	record_hist(p, TCP_HIST_SRTT, ns);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;

	if (newstate == TCP_SYN_SENT) {
		struct tcp_sock_owner o = { .tgid = bpf_get_current_pid_tgid() >> 32, .connect_start_ns = bpf_ktime_get_ns() };
		__u64 key = (__u64)sk;
		bpf_map_update_elem(&tcp_socks, &key, &o, BPF_ANY);
		drop_count(&tcp_dropped, TCP_SOCKETS_INSERTED);
		return 0;
	}
	if (newstate == TCP_LISTEN) {
		__u16 lport = sk->__sk_common.skc_num;
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		bpf_map_update_elem(&tcp_listeners, &lport, &tgid, BPF_ANY);
		return 0;
	}
	if (oldstate == TCP_LISTEN || (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE))
		return 0;
	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
		/* An accepted connection: owned by the listener's process from now on. */
		__u16 lport = sk->__sk_common.skc_num;
		__u32 *listener = bpf_map_lookup_elem(&tcp_listeners, &lport);
		if (listener) {
			struct tcp_sock_owner o = { .tgid = *listener, .direction = TCP_DIR_INBOUND, .local_port = lport };
			__u64 key = (__u64)sk;
			bpf_map_update_elem(&tcp_socks, &key, &o, BPF_ANY);
			drop_count(&tcp_dropped, TCP_SOCKETS_INSERTED);
			/* One srtt sample at accept (the handshake measured it): a long-lived connection
			 * (a gRPC channel, a pool) names the process behind a port at once, not only when
			 * it closes — the hints engine follows a caller's dependency to it by this. */
			struct tcp_peer ap;
			struct tcp_sock_owner *aowner;
			peer_of(sk, &ap, &aowner);
			struct tcp_peer_stats *as = stats_of(&ap);
			if (as)
				sample_srtt(sk, &ap, as);
		}
		return 0;
	}

	struct tcp_peer p;
	struct tcp_sock_owner *owner;
	peer_of(sk, &p, &owner);
	if (newstate == TCP_ESTABLISHED) {
		if (oldstate != TCP_SYN_SENT || !owner || !owner->connect_start_ns)
			return 0;
		__u64 ns = bpf_ktime_get_ns() - owner->connect_start_ns;
		owner->connect_start_ns = 0;
		struct tcp_peer_stats *s = stats_of(&p);
		if (s) {
			s->connects += 1;
			s->connect_sum_ns += ns;
		}
		record_hist(&p, TCP_HIST_CONNECT, ns);
		return 0;
	}

	/* → CLOSE */
	struct tcp_peer_stats *s = stats_of(&p);
	if (s) {
		if (oldstate == TCP_SYN_SENT)
			s->connect_failures += 1;
		else if (oldstate != TCP_SYN_RECV)
			sample_srtt(sk, &p, s);
	}
	if (owner) {
		__u64 key = (__u64)sk;
		if (bpf_map_delete_elem(&tcp_socks, &key) == 0)
			drop_count(&tcp_dropped, TCP_SOCKETS_DELETED);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	struct tcp_peer p;
	struct tcp_sock_owner *owner;
	peer_of(sk, &p, &owner);
	struct tcp_peer_stats *s = stats_of(&p);
	if (s) {
		s->retransmits += 1;
		sample_srtt(sk, &p, s);
	}
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset, const struct sock *sk)
{
	if (!sk) /* a RST for a segment no socket wanted: nobody's connection */
		return 0;
	struct tcp_peer p;
	struct tcp_sock_owner *owner;
	peer_of(sk, &p, &owner);
	struct tcp_peer_stats *s = stats_of(&p);
	if (s)
		s->resets_sent += 1;
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset, struct sock *sk)
{
	struct tcp_peer p;
	struct tcp_sock_owner *owner;
	peer_of(sk, &p, &owner);
	struct tcp_peer_stats *s = stats_of(&p);
	if (s)
		s->resets_received += 1;
	return 0;
}
