import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { API_KEYS_RETRY_MS, API_KEYS_TTL_MS, ApiKeyCache, parseApiKeysSecret } from './secrets.ts';

test('the API keys secret: tenant → key or keys, inverted for the gateway; bad ones named', () => {
  const keys = parseApiKeysSecret(JSON.stringify({ acme: ['a'.repeat(20), 'b'.repeat(20)], beta: 'c'.repeat(40) }));
  assert.deepEqual([...keys], [['a'.repeat(20), 'acme'], ['b'.repeat(20), 'acme'], ['c'.repeat(40), 'beta']]);
  const bad: [string, RegExp][] = [
    ['nope', /not JSON/],
    ['[]', /must be a JSON object/],
    ['{}', /holds no key/],
    ['{"acme": "short"}', /tenant "acme": each key must be a string of at least 16 characters/],
    [JSON.stringify({ a: 'k'.repeat(20), b: 'k'.repeat(20) }), /one key is given to both "a" and "b"/],
  ];
  for (const [text, message] of bad) assert.throws(() => parseApiKeysSecret(text), message, text);
});

const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:burnwatch-test-ApiKeys';
const K1 = 'k-one-0123456789abcdef';
const K2 = 'k-two-0123456789abcdef';

function secretsManager(initial: Record<string, string | string[]>) {
  const sm = mockClient(SecretsManagerClient);
  const answer = (doc: unknown) => sm.on(GetSecretValueCommand, { SecretId: SECRET }).resolves({ SecretString: typeof doc === 'string' ? doc : JSON.stringify(doc) });
  answer(initial);
  return { sm, answer, calls: () => sm.commandCalls(GetSecretValueCommand).length };
}

test('API keys are reloaded after their TTL: a revoked key stops working, a new one starts', async () => {
  const { sm, answer, calls } = secretsManager({ acme: [K1, K2] });
  let now = 1_000_000;
  try {
    const cache = new ApiKeyCache({ secretId: SECRET, client: new SecretsManagerClient({ region: 'eu-west-1' }), now: () => now, log: () => undefined });
    assert.deepEqual([...(await cache.current()).keys()], [K1, K2]);
    answer({ acme: K2, beta: K1.replace('one', 'new') });
    now += API_KEYS_TTL_MS - 1;
    assert.deepEqual([...(await cache.current()).keys()], [K1, K2], 'within the TTL: no read');
    assert.equal(calls(), 1);
    now += 1;
    assert.deepEqual([...(await cache.current())], [[K2, 'acme'], [K1.replace('one', 'new'), 'beta']]);
    assert.equal(calls(), 2);
    // Reloading the same keys keeps the same Map: the gateway's digests are not recomputed.
    const same = await cache.current();
    now += API_KEYS_TTL_MS;
    assert.equal(await cache.current(), same);
    assert.equal(calls(), 3);
  } finally {
    sm.restore();
  }
});

test('a Secrets Manager outage or a broken secret keeps the last good keys, says so, and retries after a pause', async () => {
  const { sm, answer, calls } = secretsManager({ acme: K1 });
  let now = 0;
  const lines: string[] = [];
  try {
    const cache = new ApiKeyCache({ secretId: SECRET, client: new SecretsManagerClient({ region: 'eu-west-1' }), now: () => now, log: (l) => lines.push(l) });
    const good = await cache.current();
    sm.on(GetSecretValueCommand).rejects(new Error('connect ETIMEDOUT 10.0.0.1:443'));
    now += API_KEYS_TTL_MS;
    assert.equal(await cache.current(), good);
    assert.equal(calls(), 2);
    assert.match(JSON.parse(lines[0]).message, /API keys not reloaded, the last good ones stay in use: connect ETIMEDOUT/);
    now += API_KEYS_RETRY_MS - 1;
    assert.equal(await cache.current(), good);
    assert.equal(calls(), 2, 'no read at every request during the outage');
    answer('{"acme": "short"}');
    now += 1;
    assert.equal(await cache.current(), good);
    assert.match(JSON.parse(lines[1]).message, /tenant "acme": each key must be a string of at least 16 characters/);
    answer({ acme: K2 });
    now += API_KEYS_RETRY_MS;
    assert.deepEqual([...(await cache.current())], [[K2, 'acme']]);
    assert.equal(lines.length, 2);
  } finally {
    sm.restore();
  }
});

test('the first read has nothing to fall back on: it fails, and the next request tries again; concurrent requests share one read', async () => {
  const { sm, answer, calls } = secretsManager({ acme: K1 });
  try {
    sm.on(GetSecretValueCommand).rejects(new Error('AccessDeniedException'));
    const cache = new ApiKeyCache({ secretId: SECRET, client: new SecretsManagerClient({ region: 'eu-west-1' }), log: () => undefined });
    await assert.rejects(cache.current(), /AccessDeniedException/);
    answer({ acme: K1 });
    const [a, b, c] = await Promise.all([cache.current(), cache.current(), cache.current()]);
    assert.ok(a === b && b === c);
    assert.equal(calls(), 2);
  } finally {
    sm.restore();
  }
});
