// The schedule of an alternating benchmark: per cycle, each comparison runs a block of windows
// with its measured arm and a block with its baseline, next to each other; the order of the two
// flips every cycle (ABBA…) so a steady drift does not favour one arm, and the order of the
// comparisons rotates. An arm is started once per block (an agent takes seconds to start and
// attach), and the first window after each start is a warm-up, measured and set apart.
import type { Cycle } from './stats.ts';

export interface Arm {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Comparison<A extends Arm = Arm> {
  name: string;
  measured: A;
  baseline: A;
}

export interface Block<W> {
  comparison: string;
  arm: 'measured' | 'baseline';
  cycle: number;
  warmUp: W;
  kept: W[];
}

export interface AlternatingOptions<W, A extends Arm = Arm> {
  cycles: number;
  /** Windows per block, the warm-up included: at least 2. */
  windowsPerBlock: number;
  /** One window; `arm` is the running arm (a measure may need its process). */
  measure(arm: A): Promise<W> | W;
  onBlock?(block: Block<W>): void;
}

export async function runAlternating<W, A extends Arm = Arm>(comparisons: readonly Comparison<A>[], o: AlternatingOptions<W, A>): Promise<Block<W>[]> {
  if (o.windowsPerBlock < 2) throw new RangeError('a block needs a warm-up window and at least one kept window');
  const blocks: Block<W>[] = [];
  for (let cycle = 0; cycle < o.cycles; cycle++) {
    for (let c = 0; c < comparisons.length; c++) {
      const comparison = comparisons[(c + cycle) % comparisons.length];
      const order = cycle % 2 === 0 ? (['measured', 'baseline'] as const) : (['baseline', 'measured'] as const);
      for (const which of order) {
        const arm = comparison[which];
        await arm.start();
        try {
          const windows: W[] = [];
          for (let w = 0; w < o.windowsPerBlock; w++) windows.push(await o.measure(arm));
          const block = { comparison: comparison.name, arm: which, cycle, warmUp: windows[0], kept: windows.slice(1) };
          blocks.push(block);
          o.onBlock?.(block);
        } finally {
          await arm.stop();
        }
      }
    }
  }
  return blocks;
}

/** A comparison's kept windows as cycles of (measured, baseline), one value picked from each window. */
export function cyclesOf<W>(blocks: readonly Block<W>[], comparison: string, pick: (w: W) => number): Cycle[] {
  const byCycle = new Map<number, { measured: number[]; baseline: number[] }>();
  for (const b of blocks) {
    if (b.comparison !== comparison) continue;
    const c = byCycle.get(b.cycle) ?? { measured: [], baseline: [] };
    c[b.arm] = b.kept.map(pick);
    byCycle.set(b.cycle, c);
  }
  return [...byCycle.values()].filter((c) => c.measured.length > 0 && c.baseline.length > 0);
}
