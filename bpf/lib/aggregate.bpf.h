/* SPDX-License-Identifier: GPL-2.0 */
/* In-kernel aggregation that user space drains exactly once.
 *
 * Double-buffered generations: every aggregating map comes in two copies (…_0, …_1)
 * and a one-slot control array says which one the probes write to. The agent flips
 * the control slot, waits for programs that read the old value to finish (they run
 * for microseconds), then drains the idle copy with batch lookup-and-delete: no
 * probe can increment an entry between its lookup and its delete, so every interval
 * gets exact deltas (agent/collectors/kernel-maps.ts is the user-space half).
 *
 * Drops: each object has a per-CPU array of drop counters by reason; an event that
 * cannot be recorded (a bounded map is full) is counted there, never lost silently.
 * Include after vmlinux.h and bpf_helpers.h. */
#ifndef BURNWATCH_AGGREGATE_BPF_H
#define BURNWATCH_AGGREGATE_BPF_H

/* [0] = the generation (0 or 1) the probes write to. */
#define GENERATION_CONTROL_MAP(name)                            \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_ARRAY);               \
		__uint(max_entries, 1);                         \
		__type(key, __u32);                             \
		__type(value, __u32);                           \
	} name SEC(".maps")

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

static __always_inline int generation_current(void *control)
{
	__u32 zero = 0;
	__u32 *g = bpf_map_lookup_elem(control, &zero);
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

#endif /* BURNWATCH_AGGREGATE_BPF_H */
