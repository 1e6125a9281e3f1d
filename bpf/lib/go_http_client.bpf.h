/* Outbound HTTP (go_calls.bpf.o, deep): net/http.(*Transport).roundTrip → its RETs (1 entry
 * + 1 RET). No later function runs on the caller's goroutine after the reply in every path,
 * so the call ends at the RETs, where (resp, err) are in AX, BX. */
#ifndef BURNWATCH_GO_HTTP_CLIENT_BPF_H
#define BURNWATCH_GO_HTTP_CLIENT_BPF_H

SEC("uprobe")
int go_http_client_start(struct pt_regs *ctx)
{
	struct go_calls_offsets *off = entry_offsets(ctx);
	if (!off)
		return 0;
	struct call_key k;
	struct call_inflight *c = new_call(CALL_HTTP_CLIENT, &k, GO_GOROUTINE(ctx), GO_GOROUTINE(ctx), BPF_ANY);
	if (!c)
		return 0;
	__u64 req = GO_PARAM2(ctx);
	go_read_string(c->s.op, CALL_METHOD_MAX, req + off->request_method);
	__u64 url = read_u64(req + off->request_url);
	if (url)
		go_read_string(c->s.peer, CALL_PEER_MAX - 1, url + off->url_host);
	return 0;
}

SEC("uprobe")
int go_http_client_ret(struct pt_regs *ctx)
{
	struct call_key k;
	struct call_inflight *c = goroutine_call(ctx, CALL_HTTP_CLIENT, &k);
	if (!c)
		return 0;
	struct go_calls_offsets *off = offsets_for(bpf_get_attach_cookie(ctx));
	__u64 resp = GO_PARAM1(ctx);
	c->s.error = GO_PARAM2(ctx) != 0;
	if (off && resp) {
		__s64 code = 0;
		bpf_probe_read_user(&code, sizeof(code), (void *)(resp + off->response_status_code));
		c->s.status = (__u16)code;
	}
	end_call(&k, c);
	return 0;
}

#endif
