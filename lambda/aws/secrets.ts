// API keys for the Lambda gateway: read once per container (cold start) from Secrets Manager and
// cached, never from code or a clear-text environment variable (the environment holds only the
// secret's ARN). The secret is JSON `{"<tenant>": "<key>" | ["<key>", …]}` — tenant first, so a
// key can be generated into it (infra/ does that for the first tenant) and rotated per tenant.

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
