// What a Lambda function is told through its environment (names and ARNs only — no secret values):
// one reader, so each variable is named in one place and a missing one fails the cold start with
// its name rather than later with an undefined.

import { TimestreamStore } from '../storage/timestream.ts';
import { DynamoSloStore } from './dynamodb-slo-store.ts';

export const ENV = {
  database: 'BURNWATCH_TIMESTREAM_DATABASE',
  pointsTable: 'BURNWATCH_TIMESTREAM_POINTS_TABLE',
  seriesTable: 'BURNWATCH_TIMESTREAM_SERIES_TABLE',
  apiKeysSecret: 'BURNWATCH_API_KEYS_SECRET_ARN',
  alertTopic: 'BURNWATCH_ALERT_TOPIC_ARN',
  metricsNamespace: 'BURNWATCH_METRICS_NAMESPACE',
  stage: 'BURNWATCH_STAGE',
  sloTable: 'BURNWATCH_SLO_TABLE',
} as const;

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
  });
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
