// Open-loop load against one loopback port: requests are sent on a clock at `rate` per second
// whether or not earlier ones have answered (a closed loop would slow down with the service
// and hide the damage), bounded by `maxInFlight` — beyond it a request is skipped and
// counted, so a stalled service cannot make the generator grow without bound.
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadStats {
  sent: number;
  ok: number;
  failed: number;
  /** Due while maxInFlight requests were already waiting. */
  skipped: number;
}

export class OpenLoopLoad {
  private rate: number;
  private query: string;
  private inFlight = 0;
  private stopped = false;
  private readonly done: Promise<void>;
  readonly stats: LoadStats = { sent: 0, ok: 0, failed: 0, skipped: 0 };

  constructor(
    private readonly port: number,
    private readonly path: string,
    opts: { rate: number; query?: string; maxInFlight?: number },
  ) {
    this.rate = opts.rate;
    this.query = opts.query ?? '';
    this.done = this.loop(opts.maxInFlight ?? 64);
  }

  setRate(rate: number): void {
    this.rate = rate;
  }

  /** The query string every request carries from now on (what the requests ask the service to do). */
  setQuery(query: string): void {
    this.query = query;
  }

  async stop(): Promise<LoadStats> {
    this.stopped = true;
    await this.done;
    return this.stats;
  }

  private async loop(maxInFlight: number): Promise<void> {
    // Credit accrues with time at the current rate; each whole unit is one request due.
    let credit = 0;
    let last = performance.now();
    while (!this.stopped) {
      await sleep(5);
      const now = performance.now();
      credit += ((now - last) / 1000) * this.rate;
      last = now;
      for (; credit >= 1; credit--) {
        if (this.inFlight >= maxInFlight) this.stats.skipped++;
        else void this.one();
      }
    }
    while (this.inFlight > 0) await sleep(20);
  }

  private async one(): Promise<void> {
    this.inFlight++;
    this.stats.sent++;
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}${this.path}${this.query ? `?${this.query}` : ''}`, { signal: AbortSignal.timeout(30_000) });
      await res.arrayBuffer();
      if (res.ok) this.stats.ok++;
      else this.stats.failed++;
    } catch {
      this.stats.failed++;
    } finally {
      this.inFlight--;
    }
  }
}
