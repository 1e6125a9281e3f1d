// The fault suite's common parts: a real stack (gateway process, agent process, a Go fixture
// service), a steady load with exact client-side counts, exact server-side counts through
// /v1/query, and one table line per fault (docs/reliability.md collects them).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { counterMetric, protobufBody, resourceMetrics } from '../otlp-fixtures.ts';
import { burnwatch, freePort, getJson, startFixture, startGatewayProcess, tempDir, waitFor, type Fixture, type Managed } from '../lib/processes.ts';

export const KEY = 'reliability-test-key';
export const METRIC = 'http.server.request.duration';
/** The agent's drain-and-export interval in this suite: short, so faults land mid-stream quickly. */
export const INTERVAL_MS = 1_000;

export interface Gateway {
  port: number;
  base: string;
  dataDir: string;
  proc: Managed;
  extraArgs: readonly string[];
}

export async function startGateway(t: TestContext, extraArgs: readonly string[] = [], reuse?: Gateway): Promise<Gateway> {
  const port = reuse?.port ?? (await freePort());
  const dataDir = reuse?.dataDir ?? tempDir('bw-rel-data');
  const proc = await startGatewayProcess(port, dataDir, KEY, extraArgs);
  t.after(() => proc.stop('SIGKILL'));
  return { port, base: `http://127.0.0.1:${port}`, dataDir, proc, extraArgs };
}

/** Starts the gateway again on the same port and data directory (after a kill). */
export function restartGateway(t: TestContext, g: Gateway): Promise<Gateway> {
  return startGateway(t, g.extraArgs, g);
}

export interface AgentOptions {
  spoolDir?: string;
  env?: Record<string, string>;
  /** Wraps the command (e.g. a clock-faking preload is set through env instead). */
}

export function startAgent(t: TestContext, g: Gateway, opts: AgentOptions = {}): { agent: Managed; spoolDir: string } {
  const spoolDir = opts.spoolDir ?? tempDir('bw-rel-spool');
  const agent = burnwatch(['agent', '--endpoint', g.base, '--interval', `${INTERVAL_MS}ms`, '--spool-dir', spoolDir], { BURNWATCH_API_KEY: KEY, ...opts.env });
  t.after(() => agent.stop('SIGKILL'));
  return { agent, spoolDir };
}

export async function waitForAttach(agent: Managed, pid: number, after = 0): Promise<void> {
  await waitFor(`the agent to instrument pid ${pid}`, () => {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) throw new Error(`agent exited: ${agent.output()}`);
    return agent.output().indexOf(`instrumenting pid ${pid} `, after) >= 0 ? true : undefined;
  }, 30_000, 100);
}

/** A Go service with a unique name, so counts never mix with another test's. */
export async function startService(t: TestContext, label: string): Promise<{ fixture: Fixture; service: string }> {
  const service = `rel-${label}-${process.pid}-${Math.random().toString(36).slice(2, 7)}`;
  const fixture = await startFixture('httpserver', { OTEL_SERVICE_NAME: service });
  t.after(() => fixture.stop());
  return { fixture, service };
}

/**
 * Steady client load on a Go service: `ratePerSec` requests a second, at most `concurrency` at a
 * time, cycling through `paths`. Counts what completed, by status, so the test knows exactly
 * what the service answered.
 */
export class SteadyLoad {
  completed = 0;
  readonly byStatus = new Map<number, number>();
  readonly byPath = new Map<string, number>();
  /** When each request completed (ms since the epoch), in order. */
  readonly completedAt: number[] = [];
  private running = true;
  private readonly loop: Promise<void>;
  private inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;

  constructor(
    t: TestContext,
    private readonly baseUrl: string,
    private readonly paths: readonly string[],
    private readonly ratePerSec = 40,
    private readonly concurrency = 4,
  ) {
    this.loop = this.run();
    // A test that fails before its stop() must not leave the loop running: the file would never end.
    t.after(() => {
      this.running = false;
    });
  }

  private async run(): Promise<void> {
    let i = 0;
    const gapMs = 1000 / this.ratePerSec;
    while (this.running) {
      if (this.inFlight.size < this.concurrency) {
        const p = this.one(`${this.baseUrl}${this.paths[i++ % this.paths.length]}`)
          .catch((err: Error) => {
            if (this.running) this.failure ??= err;
          })
          .finally(() => this.inFlight.delete(p));
        this.inFlight.add(p);
      }
      await sleep(gapMs);
    }
    await Promise.all(this.inFlight);
  }

  private async one(url: string): Promise<void> {
    const res = await fetch(url);
    await res.arrayBuffer();
    this.completed++;
    this.completedAt.push(Date.now());
    this.byStatus.set(res.status, (this.byStatus.get(res.status) ?? 0) + 1);
    const path = new URL(url).pathname;
    this.byPath.set(path, (this.byPath.get(path) ?? 0) + 1);
  }

  /** Stops issuing requests and waits for those in flight: afterwards `completed` is final. A request that failed fails the test here. */
  async stop(): Promise<number> {
    this.running = false;
    await this.loop;
    if (this.failure) throw new Error(`a load request failed: ${this.failure.message}`, { cause: this.failure });
    return this.completed;
  }
}

/** Exactly `n` requests, `concurrency` at a time; resolves when all have answered. */
export async function drive(baseUrl: string, path: string, n: number, concurrency = 4): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const res = await fetch(`${baseUrl}${path}`);
        await res.arrayBuffer();
      }
    }),
  );
}

/**
 * The request count the gateway has stored for a service (optionally one route). The range is
 * wide on both sides of now: a point stamped by a clock that jumped must still be found (and
 * counted once), wherever it landed.
 */
export async function storedCount(g: Gateway, service: string, route?: string): Promise<number> {
  const nowS = Math.floor(Date.now() / 1000);
  const range = `from=${nowS - 12 * 3600}&to=${nowS + 12 * 3600}`;
  const r = await getJson(`${g.base}/v1/query?service=${encodeURIComponent(service)}&metric=${METRIC}&agg=count&${range}${route ? '&by=http.route' : ''}`, KEY);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const series = (r.body.series as { labels: Record<string, string>; points: [number, number][] }[]).filter((s) => !route || s.labels['http.route'] === route);
  return series.reduce((n, s) => n + s.points[0][1], 0);
}

/** The stored request counts by route and status, for a failure message that says where a count went missing. */
async function storedBreakdown(g: Gateway, service: string): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000);
  const r = await getJson(`${g.base}/v1/query?service=${encodeURIComponent(service)}&metric=${METRIC}&agg=count&from=${nowS - 12 * 3600}&to=${nowS + 12 * 3600}&by=http.route,http.response.status_code`, KEY);
  const series = (r.body.series ?? []) as { labels: Record<string, string>; points: [number, number][] }[];
  return series.map((s) => `${s.labels['http.route']} ${s.labels['http.response.status_code']}: ${s.points[0][1]}`).join(', ');
}

/**
 * Waits until the stored count equals `expected`, then holds it for a few more export intervals:
 * reaching the number once proves nothing was lost, staying there proves nothing arrives twice.
 */
export async function assertStoredExactly(g: Gateway, service: string, expected: number, timeoutMs = 60_000, route?: string): Promise<number> {
  const started = Date.now();
  let last = -1;
  await waitFor(`${expected} requests stored for ${service}${route ? ` ${route}` : ''}`, async () => {
    last = await storedCount(g, service, route);
    assert.ok(last <= expected, `stored ${last} requests, more than the ${expected} the service answered`);
    return last === expected ? true : undefined;
  }, timeoutMs, 250).catch(async (err) => {
    throw new Error(`${(err as Error).message}; last count ${last}; stored by route and status: ${await storedBreakdown(g, service)}`);
  });
  const reachedMs = Date.now() - started;
  await sleep(3 * INTERVAL_MS);
  assert.equal(await storedCount(g, service, route), expected, 'counted twice after more export intervals');
  return reachedMs;
}

/** A gateway self-metric from GET /metrics (Prometheus text), summed over its label sets. */
export async function gatewayMetric(g: Gateway, name: string): Promise<number> {
  const res = await fetch(`${g.base}/metrics`, { headers: { authorization: `Bearer ${KEY}` } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) {
      sum += Number(m[3]);
      found = true;
    }
  }
  assert.ok(found, `${name} missing from /metrics`);
  return sum;
}

export interface FaultRow {
  fault: string;
  sent: string;
  stored: string;
  lost: string;
  recoverMs: number | null;
}

/** One line of the docs/reliability.md table, printed with the test's output. */
export function report(t: TestContext, row: FaultRow): void {
  const recover = row.recoverMs === null ? '—' : `${(row.recoverMs / 1000).toFixed(1)} s`;
  t.diagnostic(`reliability | ${row.fault} | ${row.sent} | ${row.stored} | ${row.lost} | ${recover} |`);
}

export { getJson, sleep, tempDir, waitFor };

/**
 * One OTLP batch of `points` delta-counter points (value 1 each) for `service`, all attributed
 * `rel.batch=<batch>`: a query by that attribute tells exactly which batches were stored, and
 * whether any was stored in part.
 */
export function counterBatch(service: string, batch: number, points: number, endMs: number): Uint8Array {
  const data = Array.from({ length: points }, (_, k) => ({ endMs, value: 1, attributes: { 'rel.batch': batch, 'rel.k': k } }));
  return protobufBody(resourceMetrics({ 'service.name': service }, [counterMetric(BURST_METRIC, data)]));
}

export const BURST_METRIC = 'rel.burst.events';

export async function postMetrics(g: Gateway, body: Uint8Array, apiKey = KEY): Promise<Response> {
  return fetch(`${g.base}/v1/metrics`, { method: 'POST', body: Buffer.from(body), headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/x-protobuf' } });
}

/** Stored points per `rel.batch` for a service's burst metric. */
export async function storedBatches(g: Gateway, service: string): Promise<Map<number, number>> {
  const nowS = Math.floor(Date.now() / 1000);
  const r = await getJson(`${g.base}/v1/query?service=${encodeURIComponent(service)}&metric=${BURST_METRIC}&agg=count&from=${nowS - 3600}&to=${nowS + 3600}&by=rel.batch`, KEY);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return new Map((r.body.series as { labels: Record<string, string>; points: [number, number][] }[]).map((s) => [Number(s.labels['rel.batch']), s.points[0][1]]));
}
