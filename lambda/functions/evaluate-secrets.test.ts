// The evaluator's tenant list comes from the API-keys secret, read through the same cache as the
// gateway's keys (lambda/aws/secrets.ts ApiKeyCache): reloaded on its TTL, and through a Secrets
// Manager outage the last good list stays in use — the evaluation of every tenant goes on. The
// entry is invoked as Lambda invokes it; Date is mocked so the TTL passes between invocations.

import { after, before, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { API_KEYS_TTL_MS } from '../aws/secrets.ts';
import { deploymentNames, FakeDeployment } from '../../test/lib/lambda-deployment.ts';
import { lambdaContext, scheduledEvent } from '../../test/lib/lambda-events.ts';
import { handler as evaluate } from './evaluate.ts';

const NAMES = deploymentNames();
const MIN = 60_000;
const T0 = Math.floor(Date.now() / MIN) * MIN;

const aws = new FakeDeployment(NAMES);
const stderr = process.stderr.write;
const logged: string[] = [];

before(() => {
  aws.start({ acme: 'k-acme-0123456789abcdefghij', 'o-corp': 'k-ocorp-0123456789abcdefghij' });
  mock.timers.enable({ apis: ['Date'], now: T0 });
  // The function's log (stderr): what the cache says about the outage.
  process.stderr.write = ((chunk: string) => (logged.push(String(chunk)), true)) as typeof process.stderr.write;
});

after(() => {
  process.stderr.write = stderr;
  mock.timers.reset();
  aws.stop();
});

const run = (atMs: number) => evaluate(scheduledEvent(new Date(atMs).toISOString()), lambdaContext('burnwatch-prod-Evaluate'));

test('Secrets Manager failing after the first read: the evaluator keeps evaluating every tenant it knew', async () => {
  const first = await run(T0);
  assert.deepEqual([first.tenants, first.failed], [2, []]);
  assert.equal(aws.secrets.commandCalls(GetSecretValueCommand).length, 1);

  aws.secrets.on(GetSecretValueCommand).rejects(new Error('connect ETIMEDOUT 10.0.0.1:443'));
  for (let i = 1; i <= 3; i++) {
    // Each run after the keys' TTL: the cache tries the secret again, fails, and keeps the last list.
    mock.timers.tick(API_KEYS_TTL_MS + MIN);
    const at = T0 + i * (API_KEYS_TTL_MS + MIN);
    const summary = await run(at);
    assert.deepEqual([summary.at, summary.tenants, summary.failed, summary.skipped], [new Date(at).toISOString(), 2, [], []], JSON.stringify(summary));
  }
  assert.ok(aws.secrets.commandCalls(GetSecretValueCommand).length >= 4, 'the secret was read again after each TTL');
  assert.ok(logged.some((l) => l.includes('API keys not reloaded, the last good ones stay in use: connect ETIMEDOUT')), logged.join(''));
});
