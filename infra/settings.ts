// Deployment settings from CDK context (`-c stage=prod -c alertEmail=oncall@example.com`), each
// checked here so a typo fails the synth with the setting's name instead of deploying nonsense.

import type { Node } from 'constructs';

export const PARTITION_KEY_CHOICES = ['metric', 'tenant', 'measure_name'] as const;
export type PartitionKeyChoice = (typeof PARTITION_KEY_CHOICES)[number];

export const STORAGE_CHOICES = ['timestream', 'amp'] as const;
export type StorageChoice = (typeof STORAGE_CHOICES)[number];

export interface Settings {
  /** Names every resource and the metrics namespace: burnwatch-<stage>. */
  stage: string;
  /** Optional email subscription to the alert topic (confirm the mail AWS sends). */
  alertEmail?: string;
  /** The tenant whose API key is generated into the secret at deploy time. */
  tenant: string;
  /** Timestream memory-store retention for points (hours, 1–8766): recent queries and fast writes. */
  memoryRetentionHours: number;
  /** Timestream magnetic-store retention (days, 1–73000): must cover the longest SLO window. */
  magneticRetentionDays: number;
  /** Optional cap on the ingest function's concurrency (leave unset on accounts with a low quota). */
  ingestReservedConcurrency?: number;
  /**
   * Concurrency reserved for the evaluator, so a flood of requests to the gateway cannot take every
   * execution and stop SLO evaluation; unset ("none") on accounts whose quota leaves nothing to
   * reserve (Lambda keeps 100 of the account's concurrency unreserved).
   */
  evaluatorReservedConcurrency?: number;
  /** RETAIN the data stores on stack deletion and turn DynamoDB deletion protection on (default: stage prod). */
  protectData: boolean;
  /**
   * The points table's partition key: a dimension every record carries (metric or tenant), or
   * measure_name (Timestream's default). Fixed at table creation: a table created before must keep
   * what it has (docs/aws.md).
   */
  pointsPartitionKey: PartitionKeyChoice;
  /** The account's MaxQueryTCU (Timestream query compute cap, multiples of 4 in 4–1000); unset ("account") leaves it alone. */
  maxQueryTcu?: number;
  /** Alarm when Timestream queries use more than this many TCUs, minute after minute (must be below maxQueryTcu). */
  queryTcuAlarmAbove: number;
  /** Alarm when the lowest budget remaining of any SLO drops below this fraction. */
  budgetAlarmBelow: number;
  /** Alarm when any SLO's 1 h burn rate exceeds this (the SRE Workbook's page threshold). */
  burnRateAlarmAbove: number;
  /**
   * Where points are stored: `timestream` (Timestream for LiveAnalytics, for accounts that had it
   * before 2025-06-20) or `amp` (Amazon Managed Service for Prometheus). docs/aws.md: which to choose.
   */
  storage: StorageChoice;
  /** AMP workspace retention (days, 1–1095; AMP's default is 150): keep it above the longest SLO window. */
  ampRetentionDays: number;
  /** AMP out-of-order window (seconds, 0–600): how far behind a series' newest sample a late one is still taken. */
  ampOutOfOrderSeconds: number;
}

function str(node: Node, key: string): string | undefined {
  const v: unknown = node.tryGetContext(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`context ${key}: must be a string, got ${JSON.stringify(v)}`);
  return String(v);
}

function num(node: Node, key: string, def: number | undefined, min: number, max: number): number | undefined {
  const s = str(node, key);
  if (s === undefined) return def;
  const n = Number(s);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`context ${key}: must be a number in [${min}, ${max}], got "${s}"`);
  return n;
}

export function settingsFrom(node: Node): Settings {
  const stage = str(node, 'stage') ?? 'dev';
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(stage)) throw new Error(`context stage: must be 1–20 lowercase letters, digits or '-', starting with a letter; got "${stage}"`);
  const alertEmail = str(node, 'alertEmail');
  if (alertEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alertEmail)) throw new Error(`context alertEmail: "${alertEmail}" is not an email address`);
  const tenant = str(node, 'tenant') ?? 'default';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(tenant)) throw new Error(`context tenant: must be 1–64 of A-Z a-z 0-9 . _ -; got "${tenant}"`);
  const integer = (key: string, def: number | undefined, min: number, max: number) => {
    const n = num(node, key, def, min, max);
    if (n !== undefined && !Number.isInteger(n)) throw new Error(`context ${key}: must be a whole number, got ${n}`);
    return n;
  };
  /** A whole number, or undefined when the context says `off` (or leaves it unset and the default is undefined). */
  const integerOrOff = (key: string, off: string, def: number | undefined, min: number, max: number) =>
    str(node, key) === off ? undefined : integer(key, def, min, max);
  const protect = str(node, 'protectData');
  if (protect !== undefined && protect !== 'true' && protect !== 'false') throw new Error(`context protectData: must be true or false, got "${protect}"`);
  const partitionKey = str(node, 'pointsPartitionKey') ?? 'metric';
  if (!(PARTITION_KEY_CHOICES as readonly string[]).includes(partitionKey)) {
    throw new Error(`context pointsPartitionKey: must be one of ${PARTITION_KEY_CHOICES.join(', ')}; got "${partitionKey}"`);
  }
  const maxQueryTcu = integerOrOff('maxQueryTcu', 'account', 8, 4, 1000);
  if (maxQueryTcu !== undefined && maxQueryTcu % 4 !== 0) throw new Error(`context maxQueryTcu: must be a multiple of 4 (Timestream allocates TCUs in fours), got ${maxQueryTcu}`);
  const queryTcuAlarmAbove = integer('queryTcuAlarmAbove', 4, 1, 1000)!;
  if (maxQueryTcu !== undefined && queryTcuAlarmAbove >= maxQueryTcu) {
    throw new Error(`context queryTcuAlarmAbove: must be below maxQueryTcu (${maxQueryTcu}), or the alarm can never fire; got ${queryTcuAlarmAbove}`);
  }
  const storage = str(node, 'storage') ?? 'timestream';
  if (!(STORAGE_CHOICES as readonly string[]).includes(storage)) throw new Error(`context storage: must be one of ${STORAGE_CHOICES.join(', ')}; got "${storage}"`);
  return {
    stage,
    alertEmail,
    tenant,
    memoryRetentionHours: integer('memoryRetentionHours', 24, 1, 8766)!,
    magneticRetentionDays: integer('magneticRetentionDays', 400, 1, 73000)!,
    ingestReservedConcurrency: integer('ingestReservedConcurrency', undefined, 1, 1000),
    evaluatorReservedConcurrency: integerOrOff('evaluatorReservedConcurrency', 'none', 2, 1, 1000),
    protectData: protect === undefined ? stage === 'prod' : protect === 'true',
    pointsPartitionKey: partitionKey as PartitionKeyChoice,
    maxQueryTcu,
    queryTcuAlarmAbove,
    budgetAlarmBelow: num(node, 'budgetAlarmBelow', 0, -10, 1)!,
    burnRateAlarmAbove: num(node, 'burnRateAlarmAbove', 14.4, 0, 1e6)!,
    storage: storage as StorageChoice,
    ampRetentionDays: integer('ampRetentionDays', 150, 1, 1095)!,
    ampOutOfOrderSeconds: integer('ampOutOfOrderSeconds', 600, 0, 600)!,
  };
}
