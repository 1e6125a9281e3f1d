// Applies the probe policy (agent/probe-mode.ts) to the watched processes: polls the gateway's
// GET /v1/probes (adaptive mode), turns each collector's costly probes on or off per process,
// and tells the agent when a process's uprobe coverage changed (the syscall path must then count
// what the uprobes stopped counting, or stop counting what they now count).
import type { Collector } from './collectors/types.ts';
import { DeepProbePolicy, type DeepReason, type DesiredProbes } from './probe-mode.ts';

/** How often the agent asks the gateway: ≤2 s, so probes follow a pending alert within 5 s. */
export const PROBE_POLL_MS = 2_000;

export interface DeepProbeState {
  pid: number;
  service: string;
  deep: boolean;
  reason?: DeepReason;
}

interface Tracked {
  service: string;
  /** The collectors attached to the process that have costly probes. */
  collectors: readonly Collector[];
  deep: boolean;
  reason?: DeepReason;
  /** A change being applied: the next reconcile waits for it rather than racing it. */
  changing?: Promise<void>;
}

export interface DeepProbeControllerOptions {
  policy: DeepProbePolicy;
  /** GET /v1/probes; throws when the gateway cannot answer. */
  fetchDesired: () => Promise<DesiredProbes>;
  pollMs?: number;
  log: (line: string) => void;
  /**
   * The uprobe coverage of a process is to change: called with true before its deep probes attach
   * and with false once they are gone (or failed to attach), so a call in between is missed by
   * both paths rather than counted by both.
   */
  onCoverage?: (pid: number, deep: boolean) => void;
  now?: () => number;
}

export class DeepProbeController {
  private readonly tracked = new Map<number, Tracked>();
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private gatewayDown = false;
  private readonly now: () => number;

  constructor(private readonly opts: DeepProbeControllerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get mode() {
    return this.opts.policy.mode;
  }

  /** Starts polling (adaptive mode only: the other modes never change their mind). */
  start(): void {
    if (this.mode !== 'adaptive') return;
    void this.pollOnce();
    this.timer = setInterval(() => void this.pollOnce(), this.opts.pollMs ?? PROBE_POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    await Promise.all([...this.tracked.values()].map((t) => t.changing));
  }

  /**
   * A process the collectors attached to: its deep probes follow its service's decision from now
   * on. Only collectors with costly probes count; a process with none is not tracked.
   */
  track(pid: number, service: string, attached: readonly Collector[]): Promise<void> {
    const collectors = attached.filter((c) => c.setDeepProbes);
    if (collectors.length === 0) return Promise.resolve();
    if (!this.tracked.has(pid)) this.tracked.set(pid, { service, collectors, deep: false });
    return this.reconcile(pid);
  }

  /** The process exited: the collectors already detached everything of it. */
  forget(pid: number): void {
    this.tracked.delete(pid);
  }

  state(): DeepProbeState[] {
    return [...this.tracked].map(([pid, t]) => ({ pid, service: t.service, deep: t.deep, ...(t.reason ? { reason: t.reason } : {}) }));
  }

  /** Asks the gateway once and applies the answer (or, unreachable, the last one). */
  pollOnce(): Promise<void> {
    this.polling ??= (async () => {
      try {
        this.opts.policy.update(await this.opts.fetchDesired());
        if (this.gatewayDown) this.opts.log('probe requests: gateway reachable again');
        this.gatewayDown = false;
      } catch (err) {
        if (!this.gatewayDown) this.opts.log(`probe requests: cannot ask the gateway (${(err as Error).message}); keeping the last answer, manual requests still expire`);
        this.gatewayDown = true;
      }
      await this.reconcileAll();
    })().finally(() => (this.polling = undefined));
    return this.polling;
  }

  reconcileAll(): Promise<void> {
    return Promise.all([...this.tracked.keys()].map((pid) => this.reconcile(pid))).then(() => undefined);
  }

  private async reconcile(pid: number): Promise<void> {
    const t = this.tracked.get(pid);
    if (!t) return;
    if (t.changing) return t.changing;
    const decision = this.opts.policy.decide(t.service);
    t.reason = decision.reason;
    if (decision.deep === t.deep) return;
    // The decision may have changed again while this one was applied: look once more after it.
    // (A failed attach waits for the next poll instead: no retry loop.)
    let applied = false;
    t.changing = this.apply(pid, t, decision.deep, decision.sinceMs)
      .then((ok) => void (applied = ok))
      .finally(() => (t.changing = undefined));
    await t.changing;
    if (applied) return this.reconcile(pid);
  }

  /** True when every collector did as asked. */
  private async apply(pid: number, t: Tracked, on: boolean, sinceMs: number | undefined): Promise<boolean> {
    const startedMs = this.now();
    const failures: string[] = [];
    if (on) this.opts.onCoverage?.(pid, true);
    for (const c of t.collectors) {
      try {
        await c.setDeepProbes!(pid, on);
      } catch (err) {
        failures.push(`${c.name}: ${(err as Error).message}`);
      }
    }
    if (!this.tracked.has(pid)) return false; // exited meanwhile: the collectors forgot it
    // A failed attach is retried at the next poll; a failed detach counts as detached (what is
    // left is the collector's to clean when the process goes).
    t.deep = on && failures.length === 0;
    if (!t.deep) this.opts.onCoverage?.(pid, false);
    const doneMs = this.now();
    const why = t.reason ? ` (${t.reason}${t.reason === 'alert' && sinceMs !== undefined ? `, ${doneMs - sinceMs} ms after the alert began` : ''})` : '';
    if (failures.length) this.opts.log(`deep probes for pid ${pid} (${t.service}) ${on ? 'not attached' : 'partly detached'}: ${failures.join('; ')}`);
    else this.opts.log(`deep probes ${on ? 'attached to' : 'detached from'} pid ${pid} (${t.service}) in ${doneMs - startedMs} ms${why}`);
    return failures.length === 0;
  }
}

/** GET /v1/probes with the agent's key. */
export async function fetchDesiredProbes(endpoint: string, apiKey: string, timeoutMs = PROBE_POLL_MS): Promise<DesiredProbes> {
  const res = await fetch(`${endpoint.replace(/\/+$/, '')}/v1/probes`, {
    headers: { authorization: `Bearer ${apiKey}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`GET /v1/probes: HTTP ${res.status}`);
  const body = (await res.json()) as DesiredProbes;
  if (!body || !Array.isArray(body.services)) throw new Error('GET /v1/probes: no services list in the answer');
  return body;
}
