/* database/sql (go_calls.bpf.o, deep): (*DB).queryDC | execDC → (*DB).putConn, 2 entries; the
 * peer from lib/pq's socket when the driver is lib/pq. */
#ifndef BURNWATCH_GO_SQL_BPF_H
#define BURNWATCH_GO_SQL_BPF_H

static __always_inline void sql_start(struct pt_regs *ctx, __u64 dc, __u64 qptr, __s64 qlen)
{
	struct go_calls_offsets *off = entry_offsets(ctx);
	if (!off)
		return;
	struct call_key k;
	struct call_inflight *c = new_call(CALL_SQL, &k, GO_GOROUTINE(ctx), GO_GOROUTINE(ctx), BPF_ANY);
	if (!c)
		return;
	/* Only the operation word is kept: the statement is cut at its first space, so no
	 * literal reaches a map key. */
	char buf[16] = {};
	__u32 n = qlen < (__s64)sizeof(buf) ? (__u32)qlen : sizeof(buf);
	if (qlen > 0)
		bpf_probe_read_user(buf, n & 0x1f, (void *)qptr);
	for (int i = 0; i < (int)sizeof(buf); i++) {
		if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '(' || buf[i] == ';')
			break;
		c->s.op[i] = buf[i];
	}
	__u64 itab = read_u64(dc + off->driverconn_ci);
	__u64 data = read_u64(dc + off->driverconn_ci + 8);
	c->s.driver = itab;
	if (off->itab_pq_conn && itab == off->itab_pq_conn) {
		__u64 nitab = read_u64(data + off->pq_conn_c);
		__u64 ndata = read_u64(data + off->pq_conn_c + 8);
		read_tcp_peer(off, nitab, ndata, &c->s);
	}
}

/* queryDC(db, ctx, txctx, dc, releaseConn, query string, args) */
SEC("uprobe")
int go_sql_query_start(struct pt_regs *ctx)
{
	sql_start(ctx, GO_PARAM6(ctx), GO_PARAM8(ctx), (__s64)GO_PARAM9(ctx));
	return 0;
}

/* execDC(db, ctx, dc, release, query string, args) */
SEC("uprobe")
int go_sql_exec_start(struct pt_regs *ctx)
{
	sql_start(ctx, GO_PARAM4(ctx), GO_PARAM6(ctx), (__s64)GO_PARAM7(ctx));
	return 0;
}

SEC("uprobe")
int go_sql_end(struct pt_regs *ctx)
{
	if (go_probe_is_restart(ctx, bpf_get_attach_cookie(ctx)))
		return 0;
	struct call_key k;
	struct call_inflight *c = goroutine_call(ctx, CALL_SQL, &k);
	if (!c)
		return 0;
	c->s.error = GO_PARAM3(ctx) != 0;
	end_call(&k, c);
	return 0;
}

#endif
