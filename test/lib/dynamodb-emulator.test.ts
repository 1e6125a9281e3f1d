// The DynamoDB emulator against DynamoDB's documented behaviour, through the document client the
// stores use: condition expressions (missing attributes compare false, OR/AND/NOT, an undefined
// placeholder is a ValidationException), TransactWriteItems (all or nothing, one cancellation
// reason per action, no two actions on one item) and TTL (expired items are read until swept).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbEmulator } from './dynamodb-emulator.ts';

const TABLE = 'emulated';
let emulator: DynamoDbEmulator;
let db: DynamoDBDocumentClient;

before(() => {
  emulator = new DynamoDbEmulator(TABLE);
  db = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
});
after(() => emulator.restore());

const failsWith = async (p: Promise<unknown>, name: string) => {
  const err = await p.then(() => undefined, (e: Error) => e);
  assert.ok(err, `expected ${name}`);
  assert.match(`${err.name} ${err.message}`, new RegExp(name));
  return err as Error & { CancellationReasons?: { Code: string }[] };
};

test('conditions: comparisons with a missing attribute are false; OR, AND and NOT combine; placeholders must be defined', async () => {
  const put = (Item: Record<string, unknown>, ConditionExpression: string, values: Record<string, unknown> = {}) =>
    db.send(new PutCommand({ TableName: TABLE, Item: { pk: 'c', sk: '1', ...Item }, ConditionExpression, ExpressionAttributeNames: { '#v': 'version' }, ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}) }));
  await put({ version: 1 }, 'attribute_not_exists(pk)');
  await failsWith(put({ version: 2 }, 'attribute_not_exists(pk)'), 'ConditionalCheckFailedException');
  await failsWith(put({ version: 2 }, '#v = :v', { ':v': 2 }), 'ConditionalCheckFailedException');
  await put({ version: 2 }, '#v = :v', { ':v': 1 });
  // A number is not equal to the same digits as a string.
  await failsWith(put({ version: 3 }, '#v = :v', { ':v': '2' }), 'ConditionalCheckFailedException');
  await put({ version: 3 }, 'attribute_not_exists(pk) OR #v < :v', { ':v': 3 });
  await failsWith(put({ version: 4 }, 'attribute_not_exists(pk) OR #v < :v', { ':v': 3 }), 'ConditionalCheckFailedException');
  await put({ version: 4 }, 'attribute_exists(pk) AND NOT (#v >= :v)', { ':v': 4 });
  // No such attribute: every comparison is false, its absence true.
  await failsWith(put({}, 'missing <> :v', { ':v': 1 }), 'ConditionalCheckFailedException');
  await put({ version: 5 }, 'attribute_not_exists(missing)');
  await failsWith(put({ version: 6 }, '#v = :nope', { ':v': 5 }), 'ValidationException');
  assert.equal((await db.send(new GetCommand({ TableName: TABLE, Key: { pk: 'c', sk: '1' } }))).Item?.version, 5);
});

test('TransactWriteItems: a failed condition cancels every action, with a reason per action; two actions on one item are refused', async () => {
  await db.send(new PutCommand({ TableName: TABLE, Item: { pk: 't', sk: 'a', n: 1 } }));
  const actions = (n: number) => [
    { Update: { TableName: TABLE, Key: { pk: 't', sk: 'a' }, UpdateExpression: 'SET #n = :next', ConditionExpression: '#n = :n', ExpressionAttributeNames: { '#n': 'n' }, ExpressionAttributeValues: { ':n': n, ':next': n + 1 } } },
    { Put: { TableName: TABLE, Item: { pk: 't', sk: 'b' }, ConditionExpression: 'attribute_not_exists(pk)' } },
  ];
  await db.send(new TransactWriteCommand({ TransactItems: actions(1) }));
  const err = await failsWith(db.send(new TransactWriteCommand({ TransactItems: actions(2) })), 'TransactionCanceledException');
  assert.deepEqual(err.CancellationReasons?.map((r) => r.Code), ['None', 'ConditionalCheckFailed']);
  // Nothing of the cancelled transaction was written.
  assert.equal((await db.send(new GetCommand({ TableName: TABLE, Key: { pk: 't', sk: 'a' } }))).Item?.n, 2);
  await failsWith(db.send(new TransactWriteCommand({ TransactItems: [actions(2)[0], actions(2)[0]] })), 'ValidationException');
  await failsWith(db.send(new UpdateCommand({ TableName: TABLE, Key: { pk: 't', sk: 'a' }, UpdateExpression: 'SET #n = :n', ConditionExpression: '#n = :old', ExpressionAttributeNames: { '#n': 'n' }, ExpressionAttributeValues: { ':n': 9, ':old': 1 } })), 'ConditionalCheckFailedException');
});

test('TTL: an expired item is still returned until the background sweep deletes it', async () => {
  emulator.ttlAttribute = 'expires_at';
  const at = Date.UTC(2026, 10, 20);
  await db.send(new PutCommand({ TableName: TABLE, Item: { pk: 'ttl', sk: 'old', expires_at: at / 1000 - 1 } }));
  await db.send(new PutCommand({ TableName: TABLE, Item: { pk: 'ttl', sk: 'new', expires_at: at / 1000 + 3600 } }));
  assert.ok((await db.send(new GetCommand({ TableName: TABLE, Key: { pk: 'ttl', sk: 'old' } }))).Item);
  assert.equal(emulator.sweepExpired(at), 1);
  assert.equal((await db.send(new GetCommand({ TableName: TABLE, Key: { pk: 'ttl', sk: 'old' } }))).Item, undefined);
  assert.ok((await db.send(new GetCommand({ TableName: TABLE, Key: { pk: 'ttl', sk: 'new' } }))).Item);
});
