// `--storage`, shared by `burnwatch gateway` and `burnwatch up`: where metric points live.
//   duckdb:DIR         the embedded DuckDB file under DIR (the default, under --data-dir)
//   prometheus:URL     a Prometheus (or compatible) server: remote write in, PromQL out
// SLO state and slow-request spans stay in DuckDB files under the data directory either way.

import { PrometheusStore } from '../lambda/storage/prometheus.ts';
import type { MetricStore } from '../lambda/storage/types.ts';
import { UsageError } from './args.ts';

export const STORAGE_HELP = `  --storage duckdb:DIR   metric points in the DuckDB file under DIR (same as --data-dir)
  --storage prometheus:URL
                         metric points in a Prometheus server (2.42+, started with
                         --web.enable-remote-write-receiver and an out-of-order window;
                         docs/storage-prometheus.md). URL is the server's base
                         (http://localhost:9090), or a full remote-write URL ending in
                         /api/v1/write or /api/v1/remote_write, whose base serves the
                         query API`;

export type StorageChoice =
  | { kind: 'duckdb'; dataDir: string }
  | { kind: 'prometheus'; remoteWriteUrl: string; queryUrl: string };

/** The remote-write paths of Prometheus and of AMP/Cortex/Mimir-style receivers. */
const REMOTE_WRITE_PATH = /\/api\/v1\/(write|remote_write)\/?$/;

export function parseStorageOption(value: string): StorageChoice {
  const m = /^(duckdb|prometheus):(.+)$/.exec(value);
  if (!m) throw new UsageError(`--storage must be duckdb:DIR or prometheus:URL, got "${value}"`);
  if (m[1] === 'duckdb') return { kind: 'duckdb', dataDir: m[2] };
  let url: URL;
  try {
    url = new URL(m[2]);
  } catch {
    throw new UsageError(`--storage prometheus:URL needs an http(s) URL, got "${m[2]}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--storage prometheus:URL needs an http(s) URL, got "${m[2]}"`);
  }
  if (url.search !== '' || url.hash !== '') throw new UsageError(`--storage prometheus:URL takes no query or fragment, got "${m[2]}"`);
  const text = url.toString();
  if (REMOTE_WRITE_PATH.test(url.pathname)) {
    return { kind: 'prometheus', remoteWriteUrl: text, queryUrl: text.replace(REMOTE_WRITE_PATH, '') };
  }
  const base = text.replace(/\/+$/, '');
  return { kind: 'prometheus', remoteWriteUrl: `${base}/api/v1/write`, queryUrl: base };
}

/** The metric store a choice names; undefined means the gateway's own DuckDB file. */
export function openMetricStore(choice: StorageChoice | undefined): MetricStore | undefined {
  if (choice?.kind !== 'prometheus') return undefined;
  return new PrometheusStore({ remoteWriteUrl: choice.remoteWriteUrl, queryUrl: choice.queryUrl });
}

/** Where points go, for the start-up line. */
export function describeStorage(choice: StorageChoice | undefined, dataDir: string): string {
  return choice?.kind === 'prometheus' ? `metrics in Prometheus at ${choice.queryUrl}, other data in ${dataDir}` : `data in ${dataDir}`;
}
