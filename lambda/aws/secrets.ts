// API keys for the Lambda gateway (and the evaluator's tenant list: every tenant holding a key):
// read from Secrets Manager, never from code or a clear-text
// environment variable (the environment holds only the secret's ARN). The secret is JSON
// `{"<tenant>": "<key>" | ["<key>", …]}` — tenant first, so a key can be generated into it (infra/
// does that for the first tenant) and rotated per tenant.
//
// A warm container lives for hours, so keys read once at its cold start would keep a revoked key
// working for as long: ApiKeyCache reads the secret again once its keys are older than a TTL.
// A failed reload (Secrets Manager unreachable, throttled, or the secret edited into something
// unreadable) keeps the last good keys, logs why, and is tried again after a short pause rather
// than at every request; only the first read fails the cold start, as there is nothing to keep.

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** API key → tenant, as the gateway takes it. */
export function parseApiKeysSecret(text: string): Map<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`API keys secret: not JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new Error('API keys secret: must be a JSON object {"<tenant>": "<key>" | ["<key>", …]}');
  }
  const keys = new Map<string, string>();
  for (const [tenant, value] of Object.entries(doc)) {
    const list: unknown[] = Array.isArray(value) ? value : [value];
    for (const key of list) {
      if (typeof key !== 'string' || key.length < 16) throw new Error(`API keys secret: tenant "${tenant}": each key must be a string of at least 16 characters`);
      const other = keys.get(key);
      if (other !== undefined && other !== tenant) throw new Error(`API keys secret: one key is given to both "${other}" and "${tenant}"`);
      keys.set(key, tenant);
    }
  }
  if (keys.size === 0) throw new Error('API keys secret: holds no key');
  return keys;
}

export async function loadApiKeys(secretId: string, client = new SecretsManagerClient({})): Promise<Map<string, string>> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (out.SecretString === undefined) throw new Error(`API keys secret ${secretId}: has no SecretString`);
  return parseApiKeysSecret(out.SecretString);
}

/** How long loaded keys are used before the secret is read again: a revoked key stops working within this. */
export const API_KEYS_TTL_MS = 2 * 60_000;
/** After a failed reload, how long the last good keys are used before the next attempt. */
export const API_KEYS_RETRY_MS = 15_000;

export interface ApiKeyCacheOptions {
  secretId: string;
  client?: SecretsManagerClient;
  ttlMs?: number;
  retryMs?: number;
  /** Milliseconds since the epoch (tests inject it). */
  now?: () => number;
  log?: (line: string) => void;
}

export class ApiKeyCache {
  private keys: Map<string, string> | undefined;
  private nextLoadMs = 0;
  private loading: Promise<Map<string, string>> | undefined;
  private readonly client: SecretsManagerClient;
  private readonly now: () => number;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: ApiKeyCacheOptions) {
    this.client = opts.client ?? new SecretsManagerClient({});
    this.now = opts.now ?? (() => Date.now());
    this.log = opts.log ?? ((l) => console.error(l));
  }

  /** The current keys: the same Map until a reload changes them. Throws only when no read ever succeeded. */
  current(): Promise<Map<string, string>> {
    if (this.keys !== undefined && this.now() < this.nextLoadMs) return Promise.resolve(this.keys);
    // One read at a time, however many requests arrive while it runs.
    this.loading ??= this.reload().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** The tenants holding a key, sorted (the evaluator's list), as current() keeps them. */
  async tenants(): Promise<string[]> {
    return [...new Set((await this.current()).values())].sort();
  }

  private async reload(): Promise<Map<string, string>> {
    try {
      const keys = await loadApiKeys(this.opts.secretId, this.client);
      const unchanged = this.keys !== undefined && keys.size === this.keys.size && [...keys].every(([k, t]) => this.keys!.get(k) === t);
      if (!unchanged) this.keys = keys;
      this.nextLoadMs = this.now() + (this.opts.ttlMs ?? API_KEYS_TTL_MS);
      return this.keys!;
    } catch (err) {
      if (this.keys === undefined) throw err;
      const retryMs = this.opts.retryMs ?? API_KEYS_RETRY_MS;
      this.nextLoadMs = this.now() + retryMs;
      this.log(JSON.stringify({ message: `burnwatch: API keys not reloaded, the last good ones stay in use: ${(err as Error).message}`, secret: this.opts.secretId, retry_in_s: retryMs / 1000 }));
      return this.keys;
    }
  }
}
