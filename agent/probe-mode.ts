// When the costly Go probes (client calls, SQL/Redis, lineage, slow breakdowns, RET probes) are
// on for a service: the agent's `--probes` mode and what the gateway asks for (GET /v1/probes:
// services with an SLO alert pending or firing, and manual `burnwatch probe` requests).
// Pure policy over a clock; agent/deep-probes.ts polls the gateway and applies it to processes.

import type { DesiredProbes } from '../common/probes.ts';
import { servesPlaintextHttp1Only, type ServerProtocols } from './goinspect/server-protocols.ts';

export type { DesiredProbes };

export const PROBE_MODES = ['always', 'adaptive', 'minimal'] as const;
export type ProbeMode = (typeof PROBE_MODES)[number];

/**
 * How long deep probes stay on after a service's alerts resolve. Five minutes: the page rule's
 * short window, so an alert that resolves and comes back (a flapping burn) keeps its deep data
 * instead of paying a detach and an attach, and the hints of a late re-evaluation still find it.
 */
export const DEFAULT_PROBE_COOLDOWN_MS = 5 * 60_000;

export function parseProbeMode(text: string): ProbeMode {
  if ((PROBE_MODES as readonly string[]).includes(text)) return text as ProbeMode;
  throw new RangeError(`--probes must be one of ${PROBE_MODES.join(', ')}, got "${text}"`);
}

export type DeepReason = 'always' | 'alert' | 'cooldown' | 'manual';

export interface DeepDecision {
  deep: boolean;
  reason?: DeepReason;
  /** Until when (agent clock, ms) it holds without news: a cool-down's or a manual request's end. */
  untilMs?: number;
  /** alert: when the alert began (gateway clock), to report how fast deep probes followed it. */
  sinceMs?: number;
}

/**
 * The deep-probe state of every service, from the last answers of the gateway. A gateway that
 * cannot be reached changes nothing (the last answer stands: an incident during an outage keeps
 * its probes), except that manual requests still end when they were due to.
 */
export class DeepProbePolicy {
  private readonly alerting = new Map<string, number | undefined>();
  private readonly cooldownUntil = new Map<string, number>();
  private readonly manualUntil = new Map<string, number>();

  constructor(
    readonly mode: ProbeMode,
    private readonly cooldownMs = DEFAULT_PROBE_COOLDOWN_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A fresh answer of GET /v1/probes. */
  update(desired: DesiredProbes): void {
    const nowMs = this.now();
    const alertingNow = new Map<string, number | undefined>();
    for (const d of desired.services) {
      if (d.reason === 'alert') alertingNow.set(d.service, d.since_ms);
      else if (d.reason === 'manual' && d.remaining_ms !== undefined && d.remaining_ms > 0) {
        // The gateway lists every live request; the latest answer says how long it still runs.
        this.manualUntil.set(d.service, nowMs + d.remaining_ms);
      }
    }
    for (const service of this.alerting.keys()) {
      if (!alertingNow.has(service)) this.cooldownUntil.set(service, nowMs + this.cooldownMs);
    }
    for (const service of alertingNow.keys()) this.cooldownUntil.delete(service);
    this.alerting.clear();
    for (const [s, since] of alertingNow) this.alerting.set(s, since);
    // A manual request withdrawn at the gateway (or not listed any more) ends here too.
    const manualNow = new Set(desired.services.filter((d) => d.reason === 'manual').map((d) => d.service));
    for (const service of [...this.manualUntil.keys()]) if (!manualNow.has(service)) this.manualUntil.delete(service);
  }

  decide(service: string): DeepDecision {
    if (this.mode === 'minimal') return { deep: false };
    if (this.mode === 'always') return { deep: true, reason: 'always' };
    const nowMs = this.now();
    if (this.alerting.has(service)) {
      const since = this.alerting.get(service);
      return { deep: true, reason: 'alert', ...(since !== undefined ? { sinceMs: since } : {}) };
    }
    const manual = this.manualUntil.get(service);
    const cooldown = this.cooldownUntil.get(service);
    // Whichever lasts longer holds the probes.
    if (manual !== undefined && manual > nowMs && (cooldown === undefined || manual >= cooldown)) return { deep: true, reason: 'manual', untilMs: manual };
    if (cooldown !== undefined && cooldown > nowMs) return { deep: true, reason: 'cooldown', untilMs: cooldown };
    return { deep: false };
  }
}

/**
 * How a Go HTTP server's own requests (`http.server.request.duration`) are measured outside its
 * deep probes: by the syscall tracepoints (no uprobe trap per request: the cheapest exact path
 * for plaintext HTTP/1) or by the net/http uprobes (the only path that reads TLS and HTTP/2).
 */
export type ServerRedPath = 'uprobes' | 'syscalls';

export interface ServerRedChoice {
  path: ServerRedPath;
  /** For the agent's log line and status: why this path. */
  why: string;
}

/**
 * The server RED path of a Go binary. `--probes always` keeps the uprobes (the behaviour of
 * that mode); so does a binary that can serve TLS or cleartext HTTP/2, which syscalls cannot
 * read, and any binary when the syscall path did not load. Otherwise the syscalls count its
 * requests, and the uprobes join only with its deep probes as the roots of the slow
 * breakdowns: the count stays with the syscalls, so no request is lost or doubled at a switch.
 */
export function chooseServerRedPath(mode: ProbeMode, protocols: ServerProtocols, syscallPathLoaded: boolean): ServerRedChoice {
  if (mode === 'always') return { path: 'uprobes', why: '--probes always' };
  if (!syscallPathLoaded) return { path: 'uprobes', why: 'the syscall L7 path is not loaded' };
  if (!servesPlaintextHttp1Only(protocols)) {
    const what = [protocols.tls ? 'TLS' : '', protocols.cleartextHttp2 ? 'cleartext HTTP/2' : ''].filter(Boolean).join(' and ');
    return { path: 'uprobes', why: `it can serve ${what} (${protocols.evidence.join(', ')} linked)` };
  }
  return { path: 'syscalls', why: 'plaintext HTTP/1 only (no TLS server, no cleartext HTTP/2 linked); uprobes only with its deep probes' };
}
