/* Layout shared by bpf/tcp.bpf.c and agent/collectors/tcp.ts. */
#ifndef BURNWATCH_TCP_H
#define BURNWATCH_TCP_H

#define TCP_DIR_OUTBOUND 0 /* the process connected: addr/port are the server's */
#define TCP_DIR_INBOUND 1  /* the process accepted: addr is the client's, port is the local (server) port */

/* A process and the other end of its connections. */
struct tcp_peer {
	__u32 tgid; /* 0: the owning process is unknown (socket opened before the agent) */
	__u16 family; /* AF_INET or AF_INET6 */
	__u16 port;
	__u8 addr[16]; /* IPv4 in the first 4 bytes */
	__u8 direction;
	__u8 pad[7];
};

struct tcp_peer_stats {
	__u64 retransmits;
	__u64 resets_sent;
	__u64 resets_received;
	__u64 connects;
	__u64 connect_failures;
	__u64 connect_sum_ns;
	__u64 srtt_samples;
	__u64 srtt_sum_ns;
};

#define TCP_HIST_CONNECT 0
#define TCP_HIST_SRTT 1

struct tcp_hist_key {
	struct tcp_peer peer;
	__u32 kind; /* TCP_HIST_* */
	__s32 bucket;
};

enum tcp_drop_reason {
	TCP_DROP_STATS_MAP_FULL = 0,
	TCP_DROP_HIST_MAP_FULL = 1,
	/* Inserts into / deletes from the LRU socket-owner map: the agent derives evictions. */
	TCP_SOCKETS_INSERTED = 2,
	TCP_SOCKETS_DELETED = 3,
	TCP_DROP_REASONS = 4,
};

/* What the socket map remembers of an outbound connection. */
struct tcp_sock_owner {
	__u32 tgid;
	__u16 direction; /* TCP_DIR_* */
	__u16 local_port; /* inbound: the listening port (the kernel clears it before the close) */
	__u64 connect_start_ns;
};

#endif
