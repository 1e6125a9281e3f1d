// A process's CPU read at short steps, and what the overhead bench takes from the series: the
// agent spends most of its CPU in one burst per export interval (the drain), so a short span
// measured with a burst in it and one without differ by the burst, not by what was measured.
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSeconds } from './lib.ts';
import { median } from './stats.ts';

export interface CpuSample {
  /** Seconds on a monotonic clock. */
  t: number;
  /** The process's CPU seconds so far (user + system). */
  cpu: number;
}

export const nowSeconds = (): number => performance.now() / 1000;

/** The process's CPU every `everyMs` until `until` settles (a promise) or for `until` ms; the last sample at the end. */
export async function sampleCpu(pid: number, everyMs: number, until: number | Promise<unknown>): Promise<CpuSample[]> {
  const end = typeof until === 'number' ? nowSeconds() + until / 1000 : Infinity;
  let settled = false;
  if (typeof until !== 'number') void until.then(() => (settled = true), () => (settled = true));
  const samples: CpuSample[] = [{ t: nowSeconds(), cpu: cpuSeconds(pid) }];
  while (!settled && nowSeconds() < end) {
    await sleep(Math.max(0, Math.min(everyMs, (end - nowSeconds()) * 1000)));
    samples.push({ t: nowSeconds(), cpu: cpuSeconds(pid) });
  }
  return samples;
}

/** CPU over the whole series as a share of a core. */
export function share(samples: readonly CpuSample[]): number {
  if (samples.length < 2) throw new RangeError('a share needs two samples');
  const a = samples[0];
  const b = samples[samples.length - 1];
  return (b.cpu - a.cpu) / (b.t - a.t);
}

/**
 * When the run of `steps` consecutive steps with the largest CPU rise ended: the burst's time, to
 * the step. A burst that straddles two steps splits between them; a run of a few steps keeps it
 * whole, so a smaller event that fits one step does not win.
 */
export function busiestStep(samples: readonly CpuSample[], steps = 1): number {
  if (samples.length < 2) throw new RangeError('a burst needs two samples');
  const w = Math.min(steps, samples.length - 1);
  let best = w;
  for (let i = w + 1; i < samples.length; i++) if (samples[i].cpu - samples[i - w].cpu > samples[best].cpu - samples[best - w].cpu) best = i;
  return samples[best].t;
}

/**
 * The share of a core between bursts: the median of the steps' shares. A burst fills one or two
 * steps of many, so the median passes over it.
 */
export function shareBetweenBursts(samples: readonly CpuSample[]): number {
  if (samples.length < 2) throw new RangeError('a share needs two samples');
  return median(samples.slice(1).map((s, i) => (s.cpu - samples[i].cpu) / (s.t - samples[i].t)));
}

/** Seconds from `now` until the next moment `offset` seconds after a burst of a series that bursts at `burst` every `period` seconds. */
export function delayToPhase(now: number, burst: number, period: number, offset: number): number {
  if (!(period > 0)) throw new RangeError(`a period of ${period} s`);
  const since = (((now - burst - offset) % period) + period) % period;
  return since === 0 ? 0 : period - since;
}

/** The share over the first and the second half of the series (split at the sample nearest its middle time). */
export function halves(samples: readonly CpuSample[]): [number, number] {
  if (samples.length < 3) throw new RangeError('halves need three samples');
  const mid = (samples[0].t + samples[samples.length - 1].t) / 2;
  let m = 1;
  for (let i = 1; i < samples.length - 1; i++) if (Math.abs(samples[i].t - mid) < Math.abs(samples[m].t - mid)) m = i;
  return [share(samples.slice(0, m + 1)), share(samples.slice(m))];
}
