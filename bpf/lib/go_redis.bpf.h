/* Redis clients (go_calls.bpf.o, deep), each an entry and its RETs (the reply is in registers
 * there, and no later function runs on the caller's goroutine in every path):
 *   redigo      (*conn).DoWithTimeout
 *   go-redis v5 (*baseClient).defaultProcess */
#ifndef BURNWATCH_GO_REDIS_BPF_H
#define BURNWATCH_GO_REDIS_BPF_H

/* ---- Redis (redigo): (*conn).DoWithTimeout(c, timeout, cmd string, args...) → RETs ---- */

SEC("uprobe")
int go_redis_start(struct pt_regs *ctx)
{
	__s64 len = (__s64)GO_PARAM4(ctx);
	if (len <= 0) /* Do("") only flushes (the pool does it on Close) */
		return 0;
	struct go_calls_offsets *off = entry_offsets(ctx);
	if (!off)
		return 0;
	struct call_key k;
	struct call_inflight *c = new_call(CALL_REDIS, &k, GO_GOROUTINE(ctx), GO_GOROUTINE(ctx), BPF_ANY);
	if (!c)
		return 0;
	__u32 n = len < 16 ? (__u32)len : 16;
	bpf_probe_read_user(c->s.op, n & 0x1f, (void *)GO_PARAM3(ctx));
	__u64 conn = GO_PARAM1(ctx);
	read_tcp_peer(off, read_u64(conn + off->redigo_conn_conn), read_u64(conn + off->redigo_conn_conn + 8), &c->s);
	return 0;
}

SEC("uprobe")
int go_redis_ret(struct pt_regs *ctx)
{
	struct call_key k;
	struct call_inflight *c = goroutine_call(ctx, CALL_REDIS, &k);
	if (!c)
		return 0;
	c->s.error = GO_PARAM3(ctx) != 0; /* results: reply (AX, BX), err (CX, DI) */
	end_call(&k, c);
	return 0;
}

/* ---- Redis (go-redis v5): (*baseClient).defaultProcess(c, cmd Cmder) → RETs (err) ---- */

SEC("uprobe")
int go_redis5_start(struct pt_regs *ctx)
{
	struct go_calls_offsets *off = entry_offsets(ctx);
	if (!off)
		return 0;
	/* cmd is an interface (BX itab, CX data); every Cmd embeds baseCmd, whose _args[0]
	 * is an interface{} holding the command name as a string. */
	__u64 cmd = GO_PARAM3(ctx);
	__u64 args = read_u64(cmd + off->redis5_cmd_args);
	if (!args || (__s64)read_u64(cmd + off->redis5_cmd_args + 8) <= 0)
		return 0;
	struct call_key k;
	struct call_inflight *c = new_call(CALL_REDIS, &k, GO_GOROUTINE(ctx), GO_GOROUTINE(ctx), BPF_ANY);
	if (!c)
		return 0;
	go_read_string(c->s.op, 16, read_u64(args + 8));
	__u64 opt = read_u64(GO_PARAM1(ctx) + off->redis5_client_opt);
	if (opt)
		go_read_string(c->s.peer, CALL_PEER_MAX - 1, opt + off->redis5_options_addr);
	return 0;
}

/* redis.Nil (a RedisError "redis: nil") only says the key does not exist: not an error. */
static __always_inline int redis5_is_nil(struct go_calls_offsets *off, __u64 itab, __u64 data)
{
	if (!off || !off->itab_redis5_error || itab != off->itab_redis5_error || !data)
		return 0;
	char buf[10] = {};
	if (go_read_string(buf, sizeof(buf), data) != sizeof(buf))
		return 0;
	const char nil[10] = "redis: nil";
	for (int i = 0; i < (int)sizeof(buf); i++)
		if (buf[i] != nil[i])
			return 0;
	return 1;
}

SEC("uprobe")
int go_redis5_ret(struct pt_regs *ctx)
{
	struct call_key k;
	struct call_inflight *c = goroutine_call(ctx, CALL_REDIS, &k);
	if (!c)
		return 0;
	__u64 itab = GO_PARAM1(ctx); /* result: err (AX itab, BX data) */
	c->s.error = itab != 0 && !redis5_is_nil(offsets_for(bpf_get_attach_cookie(ctx)), itab, GO_PARAM2(ctx));
	end_call(&k, c);
	return 0;
}

#endif
