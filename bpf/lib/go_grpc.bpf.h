/* gRPC (go_calls.bpf.o): the server's RED (always on; its requests are roots of the slow
 * breakdown) and client calls (deep).
 *   server  grpc.(*Server).handleStream → transport.(*http2Server).WriteStatus   2 entries
 *   client  grpc.(*clientStream).newAttemptLocked → (*clientStream).finish        2 entries
 * A client call is keyed by its *clientStream, not the goroutine: a stream may end on another. */
#ifndef BURNWATCH_GO_GRPC_BPF_H
#define BURNWATCH_GO_GRPC_BPF_H

/* A gRPC status code from an `error` interface: nil → OK, *status.Error → its code,
 * io.EOF (a stream's normal end) → OK, anything else → Unknown (as status.FromError does). */
static __always_inline __u16 grpc_code_of(struct go_calls_offsets *off, __u64 itab, __u64 data)
{
	if (!itab)
		return 0;
	if (off->itab_status_error && itab == off->itab_status_error) {
		__u64 spb = read_u64(data + off->status_error_e);
		__s32 code = 0;
		if (spb)
			bpf_probe_read_user(&code, sizeof(code), (void *)(spb + off->spb_code));
		return (__u16)code;
	}
	if (off->io_eof && data == read_u64(off->io_eof + 8))
		return 0;
	return 2;
}

/* handleStream(s, t ServerTransport, stream *Stream, trInfo): runs on its own goroutine
 * per stream, which also runs the handler and writes the status. */
SEC("uprobe")
int go_grpc_server_start(struct pt_regs *ctx)
{
	if (go_probe_is_restart(ctx, bpf_get_attach_cookie(ctx)))
		return 0;
	struct go_goroutine_key k = go_current_goroutine(ctx);
	request_start(&k, CALL_GRPC_SERVER);
	return 0;
}

/* (*http2Server).WriteStatus(t, s *Stream, st *status.Status) */
SEC("uprobe")
int go_grpc_server_end(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct go_goroutine_key k = go_current_goroutine(ctx);
	struct request_state *st = bpf_map_lookup_elem(&requests, &k);
	if (!st)
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (!off) {
		bpf_map_delete_elem(&requests, &k);
		return 0;
	}
	struct call_series s;
	__builtin_memset(&s, 0, sizeof(s));
	s.pid = k.tgid;
	s.kind = CALL_GRPC_SERVER;
	go_read_string(s.op, CALL_OP_MAX, GO_PARAM2(ctx) + off->stream_method);
	__u64 status = GO_PARAM3(ctx);
	__u64 spb = status ? read_u64(status + off->status_s) : 0;
	__s32 code = 0;
	if (spb)
		bpf_probe_read_user(&code, sizeof(code), (void *)(spb + off->spb_code));
	s.status = (__u16)code;
	s.error = code != 0;
	__u64 dur = 0;
	struct slow_record *rec = request_end(&k, CALL_GRPC_SERVER, &dur);
	record(&s, dur);
	if (rec) {
		rec->status = s.status;
		__builtin_memcpy(rec->route, s.op, CALL_OP_MAX);
		bpf_ringbuf_submit(rec, BPF_RB_NO_WAKEUP);
	}
	return 0;
}

/* ---- gRPC client (unary and streams): (*clientStream).newAttemptLocked(cs, …), called
 * by newClientStream on the caller's goroutine (and again on a retry), starts the call;
 * (*clientStream).finish(cs, err) ends it on whatever goroutine ends the stream. ---- */

SEC("uprobe")
int go_grpc_client_start(struct pt_regs *ctx)
{
	struct go_calls_offsets *off = entry_offsets(ctx);
	if (!off)
		return 0;
	__u64 cs = GO_PARAM1(ctx);
	struct call_key k;
	struct call_inflight *c = new_call(CALL_GRPC_CLIENT, &k, cs, GO_GOROUTINE(ctx), BPF_NOEXIST);
	if (!c)
		return 0;
	__u64 hdr = read_u64(cs + off->clientstream_callhdr);
	if (hdr)
		go_read_string(c->s.op, CALL_OP_MAX - 1, hdr + off->callhdr_method);
	__u64 cc = read_u64(cs + off->clientstream_cc);
	if (cc)
		go_read_string_tail(c->s.peer, CALL_PEER_MAX - 1, cc + off->clientconn_target);
	return 0;
}

/* (*clientStream).finish(cs, err error) */
SEC("uprobe")
int go_grpc_client_end(struct pt_regs *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	if (go_probe_is_restart(ctx, cookie))
		return 0;
	struct call_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .kind = CALL_GRPC_CLIENT, .g = GO_PARAM1(ctx) };
	struct call_inflight *c = bpf_map_lookup_elem(&call_inflight, &k);
	if (!c)
		return 0;
	struct go_calls_offsets *off = offsets_for(cookie);
	if (off) {
		c->s.status = grpc_code_of(off, GO_PARAM2(ctx), GO_PARAM3(ctx));
		c->s.error = c->s.status != 0;
	}
	end_call(&k, c);
	return 0;
}

#endif
