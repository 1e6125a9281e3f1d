// What a Lambda function is told through its environment (names and ARNs only — no secret values):
// one reader, so each variable is named in one place and a missing one fails the cold start with
// its name rather than later with an undefined.

import { PrometheusStore } from '../storage/prometheus.ts';
import { TimestreamStore } from '../storage/timestream.ts';
import type { MetricStore } from '../storage/types.ts';
import { DynamoSloStore } from './dynamodb-slo-store.ts';
import { DynamoSpanStore } from './dynamodb-spans.ts';
import { sigV4Fetch, type SigV4FetchOptions } from './sigv4-fetch.ts';

export const ENV = {
  database: 'BURNWATCH_TIMESTREAM_DATABASE',
  pointsTable: 'BURNWATCH_TIMESTREAM_POINTS_TABLE',
  seriesTable: 'BURNWATCH_TIMESTREAM_SERIES_TABLE',
  /** Hours the points and series tables keep in their memory stores (older writes are late: magnetic store). */
  pointsMemoryHours: 'BURNWATCH_TIMESTREAM_POINTS_MEMORY_HOURS',
  seriesMemoryHours: 'BURNWATCH_TIMESTREAM_SERIES_MEMORY_HOURS',
  apiKeysSecret: 'BURNWATCH_API_KEYS_SECRET_ARN',
  alertTopic: 'BURNWATCH_ALERT_TOPIC_ARN',
  metricsNamespace: 'BURNWATCH_METRICS_NAMESPACE',
  stage: 'BURNWATCH_STAGE',
  sloTable: 'BURNWATCH_SLO_TABLE',
  /** The DynamoDB table of slow-request spans (infra/constructs/spans.ts). */
  spansTable: 'BURNWATCH_SPANS_TABLE',
  /** Which store holds points: `timestream` (the default when unset) or `amp`. */
  storage: 'BURNWATCH_STORAGE',
  /** The AMP workspace's Prometheus endpoint, `https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/`. */
  ampEndpoint: 'BURNWATCH_AMP_ENDPOINT',
  /** Set by Lambda itself: the region requests to AMP are signed for. */
  region: 'AWS_REGION',
} as const;

export const STORAGE_KINDS = ['timestream', 'amp'] as const;

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const v = env[name];
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
}

export function timestreamStoreFromEnv(env: NodeJS.ProcessEnv = process.env): TimestreamStore {
  return new TimestreamStore({
    database: requireEnv(ENV.database, env),
    pointsTable: requireEnv(ENV.pointsTable, env),
    seriesTable: requireEnv(ENV.seriesTable, env),
    ...memoryRetentionFromEnv(env),
  });
}

/** The tables' memory-store retention as deployed; absent (an older deployment), the store's defaults. */
function memoryRetentionFromEnv(env: NodeJS.ProcessEnv): { memoryRetentionHours?: { points: number; series: number } } {
  const hours = (name: string) => {
    const v = Number(requireEnv(name, env));
    if (!Number.isInteger(v) || v < 1 || v > 8766) throw new Error(`environment variable ${name} must be whole hours in [1, 8766] (Timestream's memory-store retention), got "${env[name]}"`);
    return v;
  };
  if (!env[ENV.pointsMemoryHours] && !env[ENV.seriesMemoryHours]) return {};
  return { memoryRetentionHours: { points: hours(ENV.pointsMemoryHours), series: hours(ENV.seriesMemoryHours) } };
}

/** The point store a function was deployed with (infra/constructs/storage.ts sets BURNWATCH_STORAGE). */
export function metricStoreFromEnv(env: NodeJS.ProcessEnv = process.env): MetricStore {
  const kind = env[ENV.storage] || 'timestream';
  if (kind === 'timestream') return timestreamStoreFromEnv(env);
  if (kind === 'amp') return ampStoreFromEnv(env);
  throw new Error(`environment variable ${ENV.storage} must be one of ${STORAGE_KINDS.join(', ')}, got "${kind}"`);
}

/** PrometheusStore on an AMP workspace: remote write and the query API, each request SigV4-signed as `aps`. */
export function ampStoreFromEnv(env: NodeJS.ProcessEnv = process.env, signing: Pick<SigV4FetchOptions, 'fetch' | 'now'> = {}): PrometheusStore {
  const endpoint = requireEnv(ENV.ampEndpoint, env).replace(/\/+$/, '');
  return new PrometheusStore({
    remoteWriteUrl: `${endpoint}/api/v1/remote_write`,
    queryUrl: endpoint,
    fetch: sigV4Fetch({ region: requireEnv(ENV.region, env), service: 'aps', ...signing }),
  });
}

export function spanStoreFromEnv(env: NodeJS.ProcessEnv = process.env): DynamoSpanStore {
  return new DynamoSpanStore({ tableName: requireEnv(ENV.spansTable, env) });
}

export function sloStoreFromEnv(env: NodeJS.ProcessEnv = process.env): DynamoSloStore {
  return new DynamoSloStore({ tableName: requireEnv(ENV.sloTable, env) });
}

/** Memoises an async cold-start step; a failed one is retried on the next invocation. */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= fn().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
