/* Goroutine lineage (go_calls.bpf.o, deep): the request a new goroutine works for, so the
 * calls of goroutines a request spawns (transitively) become its sub-calls. */
#ifndef BURNWATCH_GO_LINEAGE_BPF_H
#define BURNWATCH_GO_LINEAGE_BPF_H

/* ---- goroutine lineage: gostartcallfn(&newg.sched, fn), called once by newproc1 ----
 * It runs on g0 while m.curg is still the goroutine executing the `go` statement, and its
 * first argument points into the new g, so one probe knows both parent and child. */
SEC("uprobe")
int go_lineage(struct pt_regs *ctx)
{
	struct go_calls_offsets *off = entry_offsets(ctx);
	if (!off)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_goroutine_key child = { .tgid = tgid, .g = GO_PARAM1(ctx) - off->g_sched };
	__u64 m = read_u64(GO_GOROUTINE(ctx) + off->g_m);
	__u64 parent = m ? read_u64(m + off->m_curg) : 0;
	struct go_goroutine_key pk = { .tgid = tgid, .g = parent };
	struct root_ref ref = {};
	struct request_state *st = parent ? bpf_map_lookup_elem(&requests, &pk) : 0;
	if (st) {
		ref.root_g = parent;
		ref.seq = st->seq;
	} else {
		struct root_ref *pref = parent ? bpf_map_lookup_elem(&g_root, &pk) : 0;
		if (!pref) {
			/* A recycled g must not keep an old request's attribution. */
			bpf_map_delete_elem(&g_root, &child);
			return 0;
		}
		ref = *pref;
	}
	bpf_map_update_elem(&g_root, &child, &ref, BPF_ANY);
	return 0;
}

#endif
