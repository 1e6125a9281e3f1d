// Deployment settings from CDK context (`-c stage=prod -c alertEmail=oncall@example.com`), each
// checked here so a typo fails the synth with the setting's name instead of deploying nonsense.

import type { Node } from 'constructs';

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
  /** Alarm when the lowest budget remaining of any SLO drops below this fraction. */
  budgetAlarmBelow: number;
  /** Alarm when any SLO's 1 h burn rate exceeds this (the SRE Workbook's page threshold). */
  burnRateAlarmAbove: number;
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
  return {
    stage,
    alertEmail,
    tenant,
    memoryRetentionHours: integer('memoryRetentionHours', 24, 1, 8766)!,
    magneticRetentionDays: integer('magneticRetentionDays', 400, 1, 73000)!,
    ingestReservedConcurrency: integer('ingestReservedConcurrency', undefined, 1, 1000),
    budgetAlarmBelow: num(node, 'budgetAlarmBelow', 0, -10, 1)!,
    burnRateAlarmAbove: num(node, 'burnRateAlarmAbove', 14.4, 0, 1e6)!,
  };
}
