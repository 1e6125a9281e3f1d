/* GC stop-the-world pauses (go_calls.bpf.o, always on): runtime.stopTheWorldWithSema →
 * runtime.startTheWorldWithSema, 2 entries per STW, one at a time per process. */
#ifndef BURNWATCH_GO_GC_PAUSE_BPF_H
#define BURNWATCH_GO_GC_PAUSE_BPF_H

/* tgid → STW start. */
INFLIGHT_MAP(stw_inflight, __u32, struct call_inflight, 4096);

/* stopTheWorldWithSema runs on the system stack (g0); g0.m.preemptoff says who stopped
 * the world: "" (gcStart, sweep termination) or "gcing" (gcMarkDone) for the GC, a
 * reason string for everything else (ReadMemStats, GOMAXPROCS, …), which is skipped. */
SEC("uprobe")
int go_gc_stw_start(struct pt_regs *ctx)
{
	struct go_calls_offsets *off = entry_offsets(ctx);
	if (!off)
		return 0;
	__u64 m = read_u64(GO_GOROUTINE(ctx) + off->g_m);
	struct go_string reason = {};
	if (!m || bpf_probe_read_user(&reason, sizeof(reason), (void *)(m + off->m_preemptoff)) != 0)
		return 0;
	__u16 phase;
	if (reason.len == 0) {
		phase = 1;
	} else if (reason.len == 5) {
		char r[5] = {};
		bpf_probe_read_user(r, 5, (void *)reason.ptr);
		if (r[0] != 'g' || r[1] != 'c' || r[2] != 'i' || r[3] != 'n' || r[4] != 'g')
			return 0;
		phase = 2;
	} else {
		return 0;
	}
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct call_inflight c = {};
	c.start_ns = bpf_ktime_get_ns();
	c.s.pid = tgid;
	c.s.kind = CALL_GC_PAUSE;
	c.s.status = phase;
	inflight_start(&stw_inflight, &tgid, &c, &calls_dropped, CALL_DROP_INFLIGHT_FULL, CALL_DROP_INFLIGHT_UNFINISHED);
	return 0;
}

SEC("uprobe")
int go_gc_stw_end(struct pt_regs *ctx)
{
	if (go_probe_is_restart(ctx, bpf_get_attach_cookie(ctx)))
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct call_inflight *c = bpf_map_lookup_elem(&stw_inflight, &tgid);
	if (!c)
		return 0;
	record(&c->s, bpf_ktime_get_ns() - c->start_ns);
	bpf_map_delete_elem(&stw_inflight, &tgid);
	return 0;
}

#endif
