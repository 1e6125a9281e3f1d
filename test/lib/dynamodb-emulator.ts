// An in-memory stand-in for one DynamoDB table at the SDK boundary (lib-dynamodb's document
// client mocked with aws-sdk-client-mock), for the operations DynamoSloStore sends: GetItem,
// PutItem, UpdateItem (`SET #a = :a, #b = :b`: creates the item when missing, keeps the
// attributes it does not set) and DeleteItem (ReturnValues ALL_OLD), each optionally conditional
// on `attribute_not_exists(pk)`, `attribute_exists(pk)` or `#name = :value`, and Query on
// the key (`pk = :pk`, `… AND sk <= :to`, `… AND sk BETWEEN :from AND :to`), in sort-key order
// either way, answered in small pages so callers must follow LastEvaluatedKey (and no larger
// than the request's Limit, which caps the items a page evaluates). One emulator can answer for
// several tables (the SDK client class is mocked once): name them all in the constructor.

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';

type Item = Record<string, unknown> & { pk: string; sk: string };

interface Conditional {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, unknown>;
}

/** Throws ConditionalCheckFailedException as DynamoDB does when the item as stored fails the condition. */
function check(input: Conditional, existing: Item | undefined): void {
  const cond = input.ConditionExpression;
  if (cond === undefined) return;
  let holds: boolean;
  const equals = /^(#\w+) = (:\w+)$/.exec(cond);
  if (cond === 'attribute_not_exists(pk)') holds = existing === undefined;
  else if (cond === 'attribute_exists(pk)') holds = existing !== undefined;
  else if (equals) {
    const name = input.ExpressionAttributeNames?.[equals[1]];
    const values = input.ExpressionAttributeValues ?? {};
    if (name === undefined || !(equals[2] in values)) throw new Error(`ValidationException: ${cond} names an undefined attribute name or value`);
    holds = existing !== undefined && existing[name] === values[equals[2]];
  } else throw new Error(`emulator: unsupported condition ${cond}`);
  if (!holds) throw new ConditionalCheckFailedException({ $metadata: {}, message: 'The conditional request failed' });
}

export class DynamoDbEmulator {
  /** The first table's items. */
  readonly items = new Map<string, Item>();
  readonly mock = mockClient(DynamoDBDocumentClient);
  pageSize = 2;
  private readonly tables = new Map<string, Map<string, Item>>();

  constructor(readonly tableName: string, ...otherTables: string[]) {
    this.tables.set(tableName, this.items);
    for (const t of otherTables) this.tables.set(t, new Map());
    const table = (name: string | undefined) => this.itemsOf(name);
    const id = (k: { pk: unknown; sk: unknown }) => JSON.stringify([k.pk, k.sk]);
    this.mock.on(GetCommand).callsFake((input) => {
      const item = table(input.TableName).get(id(input.Key));
      return item ? { Item: structuredClone(item) } : {};
    });
    this.mock.on(PutCommand).callsFake((input) => {
      const items = table(input.TableName);
      const item = input.Item as Item;
      if (typeof item.pk !== 'string' || typeof item.sk !== 'string' || !item.pk || !item.sk) throw new Error('ValidationException: pk and sk must be non-empty strings');
      if (JSON.stringify(item).length > 400_000) throw new Error('ValidationException: Item size has exceeded the maximum allowed size');
      check(input, items.get(id(item)));
      items.set(id(item), structuredClone(item));
      return {};
    });
    this.mock.on(UpdateCommand).callsFake((input) => {
      const items = table(input.TableName);
      const key = input.Key as { pk: string; sk: string };
      const old = items.get(id(key));
      check(input, old);
      const item: Item = { ...(old ? structuredClone(old) : {}), pk: key.pk, sk: key.sk };
      const expr = /^SET (.+)$/.exec(input.UpdateExpression ?? '');
      if (!expr) throw new Error(`emulator: unsupported update expression ${input.UpdateExpression}`);
      for (const part of expr[1].split(',')) {
        const set = /^\s*(#\w+) = (:\w+)\s*$/.exec(part);
        const name = set && input.ExpressionAttributeNames?.[set[1]];
        if (!set || name === undefined || !(set[2] in (input.ExpressionAttributeValues ?? {}))) throw new Error(`ValidationException: cannot read "${part}" of ${input.UpdateExpression}`);
        item[name] = structuredClone(input.ExpressionAttributeValues![set[2]]);
      }
      if (JSON.stringify(item).length > 400_000) throw new Error('ValidationException: Item size has exceeded the maximum allowed size');
      items.set(id(item), item);
      return {};
    });
    this.mock.on(DeleteCommand).callsFake((input) => {
      const items = table(input.TableName);
      const old = items.get(id(input.Key));
      check(input, old);
      items.delete(id(input.Key));
      return input.ReturnValues === 'ALL_OLD' && old ? { Attributes: old } : {};
    });
    this.mock.on(QueryCommand).callsFake((input: QueryCommandInput) => this.query(input));
  }

  /** The items of one table this emulator answers for; any other name is DynamoDB's ResourceNotFoundException. */
  itemsOf(tableName: string | undefined): Map<string, Item> {
    const items = tableName === undefined ? undefined : this.tables.get(tableName);
    if (!items) throw new Error(`ResourceNotFoundException: no table ${tableName}`);
    return items;
  }

  restore(): void {
    this.mock.restore();
  }

  private query(input: QueryCommandInput) {
    const items = this.itemsOf(input.TableName);
    const v = input.ExpressionAttributeValues ?? {};
    const cond = input.KeyConditionExpression;
    let test: (sk: string) => boolean;
    if (cond === 'pk = :pk') test = () => true;
    else if (cond === 'pk = :pk AND sk <= :to') test = (sk) => sk <= String(v[':to']);
    else if (cond === 'pk = :pk AND sk BETWEEN :from AND :to') test = (sk) => sk >= String(v[':from']) && sk <= String(v[':to']);
    else throw new Error(`emulator: unsupported key condition ${cond}`);
    const forward = input.ScanIndexForward !== false;
    const matching = [...items.values()]
      .filter((i) => i.pk === v[':pk'] && test(i.sk))
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0) * (forward ? 1 : -1));
    const after = input.ExclusiveStartKey ? matching.findIndex((i) => i.sk === input.ExclusiveStartKey!.sk) + 1 : 0;
    const size = Math.min(this.pageSize, input.Limit ?? Infinity);
    const page = matching.slice(after, after + size);
    const more = after + size < matching.length;
    return { Items: page.map((i) => structuredClone(i)), Count: page.length, LastEvaluatedKey: more ? { pk: page.at(-1)!.pk, sk: page.at(-1)!.sk } : undefined };
  }
}
