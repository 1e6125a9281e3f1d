// The gateway on Node's HTTP server with the embedded DuckDB store: what `burnwatch up` and
// `burnwatch gateway` run, and what the integration tests start on port 0.

import type { Server, ServerOptions } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { createGatewayApp } from '../gateway/app.ts';
import type { ApiKeys } from '../gateway/auth.ts';
import type { BodyLimits } from '../gateway/body.ts';
import type { AdmissionLimits } from '../gateway/admission.ts';
import type { SeriesLimits } from '../gateway/series-limit.ts';
import { SelfMetrics } from '../gateway/self-metrics.ts';
import { DuckDbStore, DUCKDB_FILE_NAME } from '../storage/duckdb.ts';
import type { MetricStore } from '../storage/types.ts';
import { DuckDbSloStore, SLO_DUCKDB_FILE_NAME } from '../slo/duckdb-store.ts';
import { SloEngine, type SloEngineOptions } from '../slo/engine.ts';
import { DuckDbSpanStore, SPANS_DUCKDB_FILE_NAME } from '../storage/duckdb-spans.ts';

export interface StartGatewayOptions {
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Holds the database file, `<dataDir>/burnwatch.duckdb`; created when missing. */
  dataDir: string;
  /** Serve this store instead of the DuckDB file under dataDir (tests of other backends); closed with the gateway. */
  store?: MetricStore;
  /** API key → tenant. */
  apiKeys: ApiKeys;
  limits?: Partial<BodyLimits>;
  admission?: Partial<AdmissionLimits>;
  seriesLimits?: Partial<SeriesLimits>;
  timeouts?: Partial<ServerTimeouts>;
  now?: () => number;
  log?: (message: string) => void;
  /** SLO engine settings (spec directory, notifiers, resolution); its store is `<dataDir>/burnwatch-slo.duckdb`. */
  slo?: Omit<SloEngineOptions, 'metricStore' | 'sloStore'>;
}

export interface RunningGateway {
  url: string;
  port: number;
  /** The open store, for in-process readers (the CLI's live table) in the same process. */
  store: MetricStore;
  /** The SLO engine the API reads through; `burnwatch up` runs its evaluation cycle. */
  slo: SloEngine;
  /** Stops accepting, lets requests in flight finish (up to a few seconds), then closes the store. */
  close(): Promise<void>;
}

/** The tenant of a single-host install: `burnwatch up` and `burnwatch gateway` map their one API key to it. */
export const LOCAL_TENANT = 'local';

const CLOSE_GRACE_MS = 5_000;

/**
 * How long a client may take to send its request. A slow-loris client (headers or body trickled a
 * byte at a time over many connections) holds sockets and memory for as long as the server
 * waits; Node's defaults wait 60 s for headers and 300 s for a request, checked every 30 s.
 */
export interface ServerTimeouts {
  /** Until the request headers are complete. */
  headersMs: number;
  /** Until the whole request (headers and body) has arrived. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
}

export const DEFAULT_SERVER_TIMEOUTS: ServerTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000 };

export async function startGateway(opts: StartGatewayOptions): Promise<RunningGateway> {
  const host = opts.host ?? '127.0.0.1';
  const store = opts.store ?? (await DuckDbStore.open({ path: join(opts.dataDir, DUCKDB_FILE_NAME) }));
  const sloStore = await DuckDbSloStore.open(join(opts.dataDir, SLO_DUCKDB_FILE_NAME));
  const spanStore = await DuckDbSpanStore.open(join(opts.dataDir, SPANS_DUCKDB_FILE_NAME));
  // Firing alerts get their root-cause hints from the same stores /v1/hints reads.
  const slo = new SloEngine({ log: opts.log, hints: { metricStore: store, spanStore }, ...opts.slo, metricStore: store, sloStore });
  const app = createGatewayApp({
    slo,
    spanStore,
    store,
    apiKeys: opts.apiKeys,
    limits: opts.limits,
    admission: opts.admission,
    seriesLimits: opts.seriesLimits,
    now: opts.now,
    log: opts.log,
    selfMetrics: new SelfMetrics(),
  });
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: opts.port, hostname: host, serverOptions: serverOptions(opts.timeouts) }) as Server;
      s.once('listening', () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    await spanStore.close();
    await sloStore.close();
    await store.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    store,
    slo,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          server.closeIdleConnections();
        });
        await spanStore.close();
        await sloStore.close();
        await store.close();
      })();
      return closing;
    },
  };
}

function serverOptions(overrides: Partial<ServerTimeouts> = {}): ServerOptions {
  const t = { ...DEFAULT_SERVER_TIMEOUTS, ...overrides };
  for (const [name, ms] of Object.entries(t)) if (!(Number.isFinite(ms) && ms > 0)) throw new RangeError(`server timeout ${name} must be > 0 ms, got ${ms}`);
  return {
    headersTimeout: t.headersMs,
    requestTimeout: Math.max(t.requestMs, t.headersMs),
    keepAliveTimeout: t.keepAliveMs,
    // Node enforces the two timeouts above only when it sweeps connections: sweep often enough
    // that a timeout means what it says.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(t.headersMs / 4))),
  };
}
