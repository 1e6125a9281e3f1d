// Goroutine lineage (bpf/lib/go_lineage.bpf.h), deep: runtime.gostartcallfn, once per goroutine
// created, so a request's spawned goroutines' calls become its sub-calls. It only serves that
// breakdown: a binary that makes none of the calls seen does not pay for it.
import type { GoCallFamily } from './family.ts';
import { hasSubcallProbes } from './request-roots.ts';

export const LINEAGE: GoCallFamily = {
  name: 'lineage',
  when: 'deep',
  points: (s) => (s.goRuntime && hasSubcallProbes(s) ? [{ program: 'go_lineage', entry: s.goRuntime.points.gostartcallfn }] : []),
  series: [],
};
