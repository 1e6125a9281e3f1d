// GC stop-the-world pauses (bpf/lib/go_gc_pause.bpf.h), always on: stopTheWorldWithSema →
// startTheWorldWithSema. The series status is the phase: 1 sweep termination (one per cycle), 2 mark termination.
import { GO_ATTR, GO_METRIC } from '../../../common/catalogue.ts';
import type { GoCallFamily } from './family.ts';
import { KIND } from './layout.ts';

/** The phase that happens once per GC cycle: its pauses count the cycles. */
export const GC_CYCLE_PHASE = 1;

export const GC_PAUSE: GoCallFamily = {
  name: 'gc-pause',
  when: 'red',
  points: (s) =>
    s.goRuntime
      ? [
          { program: 'go_gc_stw_end', entry: s.goRuntime.points.startTheWorld },
          { program: 'go_gc_stw_start', entry: s.goRuntime.points.stopTheWorld },
        ]
      : [],
  series: [
    {
      kind: KIND.gcPause,
      metric: GO_METRIC.gcPause,
      attributes: (d) => ({ [GO_ATTR.gcPhase]: d.status === GC_CYCLE_PHASE ? 'sweep_termination' : 'mark_termination' }),
    },
  ],
};
