/* The duration stats every histogram series carries beside its buckets: count, sum, min and
 * max, per CPU (user space folds the CPUs: agent/collectors/kernel-maps.ts,
 * addPerCpuDurationStats). A macro so every object's stats struct with these four fields
 * (struct http_stats, struct call_stats) shares the one update. */
#ifndef BURNWATCH_DURATION_STATS_BPF_H
#define BURNWATCH_DURATION_STATS_BPF_H

#define DURATION_STATS_ADD(s, dur_ns)                              \
	do {                                                       \
		if ((s)->count == 0 || (dur_ns) < (s)->min_ns)     \
			(s)->min_ns = (dur_ns);                    \
		(s)->count += 1;                                   \
		(s)->sum_ns += (dur_ns);                           \
		if ((dur_ns) > (s)->max_ns)                        \
			(s)->max_ns = (dur_ns);                    \
	} while (0)

#endif
