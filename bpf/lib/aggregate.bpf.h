/* SPDX-License-Identifier: GPL-2.0 */
/* In-kernel aggregation that user space drains exactly once.
 *
 * Double-buffered generations: every aggregating map comes in two copies (…_0, …_1).
 * Which copy the probes write to is read, once per event, through a map-in-map: the
 * control map is an ARRAY_OF_MAPS whose one slot holds one of two tiny "tag" arrays,
 * each holding its own generation number. The agent retires a generation by putting
 * the other tag into the slot with a bpf(BPF_MAP_UPDATE_ELEM) syscall, then drains the
 * retired copies with batch lookup-and-delete until they are empty.
 *
 * Why that is exact, not merely likely: an update of a map-in-map from the syscall ends
 * in maybe_wait_bpf_programs() (kernel/bpf/syscall.c), which calls synchronize_rcu()
 * before returning to user space, so "all non-sleepable programs that could be running
 * use the new map value" (the kernel's own comment). Every program here is
 * non-sleepable and runs inside rcu_read_lock() (uprobes: bpf_prog_run_array_uprobe
 * takes it for each non-sleepable program; tp_btf: __bpf_trace_run), and reads the
 * generation inside that section, so when the syscall returns no program can still be
 * writing to the retired copies — however long it was preempted or interrupted. The
 * kernel does not wait for sleepable programs (that would need
 * synchronize_rcu_tasks_trace), so programs of an object using this scheme must never
 * be sleepable (SEC("uprobe.s") and the like): the agent refuses such an object.
 *
 * Why the tags are swapped and not the hash maps themselves: one event may write
 * several maps (a histogram bucket and its series' stats); one slot read once keeps
 * both in the same generation, and one grace period per drain serves all of them.
 *
 * Drops: each object has a per-CPU array of drop counters by reason; an event that
 * cannot be recorded (a bounded map is full) is counted there, never lost silently.
 * In-flight state (a request started, its end not seen yet) lives in plain HASH maps,
 * not LRU ones: an LRU map evicts silently when full, a HASH map refuses the insert and
 * the refusal is counted (inflight_start). Entries whose end never comes (the process
 * exited, the goroutine was hijacked) are swept and counted by the agent
 * (agent/collectors/kernel-maps.ts is the user-space half).
 * Include after vmlinux.h and bpf_helpers.h. */
#ifndef BURNWATCH_AGGREGATE_BPF_H
#define BURNWATCH_AGGREGATE_BPF_H

/* A one-entry array holding its own generation number (0 or 1; the agent writes the 1). */
struct generation_tag {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

/* name[0] = the tag of the generation the probes write to; generation 0 at load. */
#define GENERATION_CONTROL_MAP(name)                                            \
	struct generation_tag name##_tag_0 SEC(".maps"), name##_tag_1 SEC(".maps"); \
	struct {                                                                \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                       \
		__uint(max_entries, 1);                                         \
		__type(key, __u32);                                             \
		__array(values, struct generation_tag);                         \
	} name SEC(".maps") = { .values = { [0] = &name##_tag_0 } }

#define DROP_COUNTER_MAP(name, reasons)                         \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);        \
		__uint(max_entries, reasons);                   \
		__type(key, __u32);                             \
		__type(value, __u64);                           \
	} name SEC(".maps")

/* Two per-CPU hash maps name_0/name_1 with the given key and value types. */
#define GENERATION_HASH_MAPS(name, key_t, value_t, entries)     \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_PERCPU_HASH);         \
		__uint(max_entries, entries);                   \
		__type(key, key_t);                             \
		__type(value, value_t);                         \
	} name##_0 SEC(".maps"), name##_1 SEC(".maps")

/* Two shared (not per-CPU) hash maps name_0/name_1 of u64 counters updated atomically:
 * limits that must hold across CPUs within one generation (cardinality_admit). */
#define GENERATION_COUNTER_MAPS(name, key_t, entries)           \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_HASH);                \
		__uint(max_entries, entries);                   \
		__type(key, key_t);                             \
		__type(value, __u64);                           \
	} name##_0 SEC(".maps"), name##_1 SEC(".maps")

static __always_inline int generation_current(void *control)
{
	__u32 zero = 0;
	void *tag = bpf_map_lookup_elem(control, &zero);
	if (!tag)
		return 0;
	__u32 *g = bpf_map_lookup_elem(tag, &zero);
	return g && *g;
}

/* The copy of a GENERATION_HASH_MAPS pair for generation `gen` (read it once per event
 * with generation_current when a program writes several maps). */
#define GENERATION_SELECT(gen, name) ((gen) ? (void *)&name##_1 : (void *)&name##_0)
/* The copy of a GENERATION_HASH_MAPS pair the probes write to now. */
#define GENERATION_MAP(control, name) GENERATION_SELECT(generation_current(control), name)

static __always_inline void drop_count(void *drops, __u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(drops, &reason);
	if (n)
		*n += 1;
}

static __always_inline void drop_add(void *drops, __u32 reason, __u64 k)
{
	__u64 *n = bpf_map_lookup_elem(drops, &reason);
	if (n)
		*n += k;
}

/* The entry for `key`, inserted as `zero` (a zeroed value) when missing; NULL (and a
 * drop counted) only when the map is full. Per-CPU: another CPU's insert leaves this
 * CPU's slot zeroed, so a lost insert race still finds a usable entry. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *zero, void *drops, __u32 reason)
{
	void *v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	v = bpf_map_lookup_elem(map, key);
	if (!v)
		drop_count(drops, reason);
	return v;
}

/* One more event in the per-CPU u64 counter of `key`. */
static __always_inline void count_one(void *map, const void *key, void *drops, __u32 reason)
{
	__u64 zero = 0;
	__u64 *c = lookup_or_init(map, key, &zero, drops, reason);
	if (c)
		*c += 1;
}

/* Whether one more distinct key may be created for `owner` in this generation: its
 * counter in `counts` (a GENERATION_COUNTER_MAPS copy) is below `cap`, and is then
 * incremented. CPUs racing at the limit may each pass once, so the bound is cap + CPUs.
 * A counter that cannot be created is counted under `full` and refused. */
static __always_inline int cardinality_admit(void *counts, __u32 owner, __u64 cap, void *drops, __u32 full)
{
	__u64 *n = bpf_map_lookup_elem(counts, &owner);
	if (!n) {
		__u64 zero = 0;
		bpf_map_update_elem(counts, &owner, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(counts, &owner);
		if (!n) {
			drop_count(drops, full);
			return 0;
		}
	}
	if (*n >= cap)
		return 0;
	__sync_fetch_and_add(n, 1);
	return 1;
}

/* kernel errno values (vmlinux.h has no errno.h) */
#define AGG_EEXIST 17

/* A plain hash map for in-flight state: full means refused (and counted), never evicted. */
#define INFLIGHT_MAP(name, key_t, value_t, entries)             \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_HASH);                \
		__uint(max_entries, entries);                   \
		__type(key, key_t);                             \
		__type(value, value_t);                         \
	} name SEC(".maps")

/* Starts in-flight state for `key`. A start over an entry whose end never came (a
 * hijacked connection, a panic, a recycled goroutine) replaces it and counts it under
 * `unfinished`; a full map refuses the start and counts it under `full`. Returns 0 when
 * the state was stored. */
static __always_inline long inflight_start(void *map, const void *key, const void *value, void *drops,
					   __u32 full, __u32 unfinished)
{
	long err = bpf_map_update_elem(map, key, value, BPF_NOEXIST);
	if (err == -AGG_EEXIST) {
		drop_count(drops, unfinished);
		err = bpf_map_update_elem(map, key, value, BPF_ANY);
	}
	if (err)
		drop_count(drops, full);
	return err;
}

#endif /* BURNWATCH_AGGREGATE_BPF_H */
