// The local stack's evaluator: SloEngine.cycle every interval, never two at once. The scheduled
// Lambda does the same through runEvaluationCycle, once per invocation.

import type { SloEngine } from './engine.ts';

export interface EvaluationLoop {
  /** Resolves once a cycle in flight has finished. */
  stop(): Promise<void>;
}

export function startEvaluationLoop(opts: { engine: SloEngine; tenant: string; intervalMs: number; log: (line: string) => void; now?: () => number }): EvaluationLoop {
  const now = opts.now ?? Date.now;
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return; // a slow cycle delays the next one rather than overlapping it
    running = opts.engine
      .cycle(opts.tenant, now())
      .then(() => undefined)
      .catch((err) => opts.log(`slo evaluation failed: ${(err as Error).stack ?? err}`))
      .finally(() => (running = undefined));
  };
  tick();
  const timer = setInterval(tick, opts.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
