// SnsNotifier at the SDK boundary: the exact Publish request for a transition.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { hintedTransition, transition } from '../../test/lib/alert-fixtures.ts';
import { emailText, hintsAttribute, publishInput, SnsNotifier, snsSubject } from './sns.ts';

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:burnwatch-prod-AlertingTopic';

test('a transition is published once: JSON for machines, text for email, attributes to filter on', async () => {
  const client = new SNSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' } });
  const sns = mockClient(client);
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
  const notifier = new SnsNotifier(TOPIC, client);
  assert.equal(notifier.name, `sns ${TOPIC}`);
  await notifier.notify(transition);

  const calls = sns.commandCalls(PublishCommand);
  assert.equal(calls.length, 1);
  const input = calls[0].args[0].input;
  assert.equal(input.TopicArn, TOPIC);
  assert.equal(input.MessageStructure, 'json');
  // SNS subjects are ASCII: the × of the summary becomes '?'.
  assert.equal(input.Subject, '[burnwatch] page firing: checkout: availability SLO burning 16.2? over 1h (5m: 19.8?); page');
  assert.deepEqual(input.MessageAttributes, {
    to: { DataType: 'String', StringValue: 'firing' },
    severity: { DataType: 'String', StringValue: 'page' },
    service: { DataType: 'String', StringValue: 'checkout' },
    tenant: { DataType: 'String', StringValue: 'acme' },
    // Firing without hints yet: for the hints function, which publishes it again with them.
    hints: { DataType: 'String', StringValue: 'pending' },
  });
  const message = JSON.parse(input.Message!);
  for (const protocol of ['default', 'lambda', 'sqs', 'https', 'email-json']) assert.deepEqual(JSON.parse(message[protocol]), transition, protocol);
  assert.match(message.email, /^checkout: availability SLO burning 16\.2× over 1h/);
  assert.match(message.email, /State: {4}pending → firing at 2026-11-23T14:00:00\.000Z/);
  assert.match(message.email, /Budget remaining: 62\.0%/);

  sns.on(PublishCommand).rejects(new Error('AuthorizationError: not allowed'));
  await assert.rejects(notifier.notify(transition), /not allowed/);
  sns.restore();
});

test('subjects stay within SNS limits', () => {
  const long = snsSubject({ ...transition, summary: `x\ny${'z'.repeat(200)}` });
  assert.equal(long.length, 100);
  assert.match(long, /^[\x20-\x7e]+$/);
});

test('with hints attached: the attribute people subscribe to, the JSON carries them, the email names the top one', () => {
  const input = publishInput(TOPIC, hintedTransition);
  assert.equal(input.MessageAttributes.hints.StringValue, 'attached');
  const message = JSON.parse(input.Message);
  for (const protocol of ['default', 'lambda', 'sqs', 'https', 'email-json']) assert.deepEqual(JSON.parse(message[protocol]).hints, hintedTransition.hints, protocol);
  const email = message.email as string;
  assert.match(email, /\nLikely cause: slow_dependency: redis GET on 10\.0\.3\.7:6379 from stock: p99 2\.1 s, was 4 ms; 73% of the extra request time\n/);
  assert.match(email, /confidence 0\.83, explains 73% of the damage; where: checkout → stock, peer 10\.0\.3\.7:6379\n/);
  assert.match(email, /\nNext step: {4}look at the Redis server on 10\.0\.3\.7:6379/);
  assert.match(email, /\nAlso: {9}network \(0\.41\)\n/);
  // None found, and why; other transitions carry no hints and say nothing about them.
  const noData = emailText({ ...transition, hints: [], hints_meta: { status: 'no_data', from: 1, to: 2, message: 'service "checkout": no data has been received for it' } });
  assert.match(noData, /Likely cause: none found \(service "checkout": no data has been received for it\)/);
  assert.doesNotMatch(emailText({ ...transition, to: 'resolved', from: 'firing' }), /Likely cause/);
  assert.deepEqual([hintsAttribute({ ...transition, to: 'resolved' }), hintsAttribute({ ...transition, to: 'pending' }), hintsAttribute({ ...transition, hints: [] })], ['none', 'none', 'attached']);
});
