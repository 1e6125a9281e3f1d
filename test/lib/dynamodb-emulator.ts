// An in-memory stand-in for one DynamoDB table at the SDK boundary (lib-dynamodb's document
// client mocked with aws-sdk-client-mock), for the operations DynamoSloStore sends: GetItem,
// PutItem, UpdateItem (`SET #a = :a, #b = :b`: creates the item when missing, keeps the
// attributes it does not set) and DeleteItem (ReturnValues ALL_OLD), each optionally conditional
// (dynamodb-conditions.ts), TransactWriteItems (all or nothing, TransactionCanceledException with
// its cancellation reasons), TTL (expired items are returned until swept), and Query on
// the key (`pk = :pk`, `… AND sk <= :to`, `… AND sk BETWEEN :from AND :to`), in sort-key order
// either way, answered in small pages so callers must follow LastEvaluatedKey (and no larger
// than the request's Limit, which caps the items a page evaluates). One emulator can answer for
// several tables (the SDK client class is mocked once): name them all in the constructor.

import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type DeleteCommandInput,
  type GetCommandInput,
  type PutCommandInput,
  type QueryCommandInput,
  type TransactWriteCommandInput,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { conditionHolds, type ConditionInput } from './dynamodb-conditions.ts';

type Item = Record<string, unknown> & { pk: string; sk: string };

const itemId = (k: { pk: unknown; sk: unknown }) => JSON.stringify([k.pk, k.sk]);

/** DynamoDB's item size limit (400 KB), approximated by the JSON length. */
const MAX_ITEM_BYTES = 400_000;

/** One write checked but not yet applied: the item it changes, as stored before and after (undefined: none). */
interface PlannedWrite {
  items: Map<string, Item>;
  key: string;
  old: Item | undefined;
  next: Item | undefined;
}

/** Throws ConditionalCheckFailedException as DynamoDB does when the item as stored fails the condition. */
function check(input: ConditionInput, existing: Item | undefined): void {
  if (!conditionHolds(input, existing)) throw new ConditionalCheckFailedException({ $metadata: {}, message: 'The conditional request failed' });
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
    const id = itemId;
    this.mock.on(GetCommand).callsFake(this.answered((input: GetCommandInput) => {
      const item = table(input.TableName).get(id(input.Key as Item));
      return item ? { Item: structuredClone(item) } : {};
    }));
    this.mock.on(PutCommand).callsFake(this.answered((input: PutCommandInput) => {
      const write = this.planPut(input);
      check(input, write.old);
      this.apply(write);
      return {};
    }));
    this.mock.on(UpdateCommand).callsFake(this.answered((input: UpdateCommandInput) => {
      const write = this.planUpdate(input);
      check(input, write.old);
      this.apply(write);
      return {};
    }));
    this.mock.on(DeleteCommand).callsFake(this.answered((input: DeleteCommandInput) => {
      const write = this.planDelete(input);
      check(input, write.old);
      this.apply(write);
      return input.ReturnValues === 'ALL_OLD' && write.old ? { Attributes: write.old } : {};
    }));
    this.mock.on(TransactWriteCommand).callsFake(this.answered((input: TransactWriteCommandInput) => this.transactWrite(input.TransactItems ?? [])));
    this.mock.on(QueryCommand).callsFake(this.answered((input: QueryCommandInput) => this.query(input)));
  }

  /**
   * How long each request takes to be answered (default 0: at once). A request is applied whole
   * when it arrives at the emulated table, after this delay, so concurrent callers interleave as
   * they would over the network.
   */
  latencyMs = 0;

  private answered<I, O>(handle: (input: I) => O): (input: I) => O | Promise<O> {
    return (input) => (this.latencyMs > 0 ? new Promise<O>((resolve, reject) => setTimeout(() => {
      try {
        resolve(handle(input));
      } catch (err) {
        reject(err);
      }
    }, this.latencyMs)) : handle(input));
  }

  /**
   * DynamoDB TTL as documented ("Using time to live"): an item whose TTL attribute (a Number of
   * epoch seconds) is past is deleted by a background process, typically within a few days, and
   * until then reads still return it. `sweepExpired` is that process; nothing else hides them.
   */
  ttlAttribute?: string;

  sweepExpired(nowMs: number): number {
    let swept = 0;
    for (const items of this.tables.values()) {
      for (const [key, item] of items) {
        const at = this.ttlAttribute === undefined ? undefined : item[this.ttlAttribute];
        if (typeof at === 'number' && at * 1000 <= nowMs) {
          items.delete(key);
          swept++;
        }
      }
    }
    return swept;
  }

  private planPut(input: PutCommandInput): PlannedWrite {
    const items = this.itemsOf(input.TableName);
    const item = input.Item as Item;
    if (typeof item.pk !== 'string' || typeof item.sk !== 'string' || !item.pk || !item.sk) throw new Error('ValidationException: pk and sk must be non-empty strings');
    // DynamoDB's key limits: a partition key of at most 2048 bytes, a sort key of at most 1024.
    if (Buffer.byteLength(item.pk) > 2048 || Buffer.byteLength(item.sk) > 1024) throw new Error('ValidationException: One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes');
    if (JSON.stringify(item).length > MAX_ITEM_BYTES) throw new Error('ValidationException: Item size has exceeded the maximum allowed size');
    return { items, key: itemId(item), old: items.get(itemId(item)), next: structuredClone(item) };
  }

  /** `SET #a = :a, #b = :b`: creates the item when missing and keeps the attributes it does not set. */
  private planUpdate(input: UpdateCommandInput): PlannedWrite {
    const items = this.itemsOf(input.TableName);
    const key = input.Key as { pk: string; sk: string };
    const old = items.get(itemId(key));
    const item: Item = { ...(old ? structuredClone(old) : {}), pk: key.pk, sk: key.sk };
    const expr = /^SET (.+)$/.exec(input.UpdateExpression ?? '');
    if (!expr) throw new Error(`emulator: unsupported update expression ${input.UpdateExpression}`);
    for (const part of expr[1].split(',')) {
      const set = /^\s*(#\w+) = (:\w+)\s*$/.exec(part);
      const name = set && input.ExpressionAttributeNames?.[set[1]];
      if (!set || !name || !(set[2] in (input.ExpressionAttributeValues ?? {}))) throw new Error(`ValidationException: cannot read "${part}" of ${input.UpdateExpression}`);
      item[name] = structuredClone(input.ExpressionAttributeValues![set[2]]);
    }
    if (JSON.stringify(item).length > MAX_ITEM_BYTES) throw new Error('ValidationException: Item size has exceeded the maximum allowed size');
    return { items, key: itemId(key), old, next: item };
  }

  private planDelete(input: DeleteCommandInput): PlannedWrite {
    const items = this.itemsOf(input.TableName);
    return { items, key: itemId(input.Key as Item), old: items.get(itemId(input.Key as Item)), next: undefined };
  }

  private apply(w: PlannedWrite): void {
    if (w.next === undefined) w.items.delete(w.key);
    else w.items.set(w.key, w.next);
  }

  /**
   * TransactWriteItems as documented: at most 100 actions, no two on the same item (else
   * ValidationException); every condition is checked first and, when any fails, nothing is
   * written and TransactionCanceledException carries one reason per action, in order
   * (`ConditionalCheckFailed` for those that failed, `None` for the others).
   */
  private transactWrite(actions: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>) {
    if (actions.length === 0 || actions.length > 100) throw new Error(`ValidationException: TransactItems must have 1 to 100 actions, got ${actions.length}`);
    const planned = actions.map((a) => {
      if (a.Put) return { write: this.planPut(a.Put as PutCommandInput), cond: a.Put as ConditionInput };
      if (a.Update) return { write: this.planUpdate(a.Update as UpdateCommandInput), cond: a.Update as ConditionInput };
      if (a.Delete) return { write: this.planDelete(a.Delete as DeleteCommandInput), cond: a.Delete as ConditionInput };
      if (a.ConditionCheck) {
        const items = this.itemsOf(a.ConditionCheck.TableName);
        const key = itemId(a.ConditionCheck.Key as Item);
        return { write: undefined, cond: a.ConditionCheck as ConditionInput, old: items.get(key), key: `${a.ConditionCheck.TableName}\0${key}` };
      }
      throw new Error('ValidationException: a TransactItems action must be one of Put, Update, Delete or ConditionCheck');
    });
    const targets = planned.map((p) => ('key' in p ? p.key : `${[...this.tables].find(([, m]) => m === p.write!.items)![0]}\0${p.write!.key}`));
    if (new Set(targets).size !== targets.length) throw new Error('ValidationException: Transaction request cannot include multiple operations on one item');
    const reasons = planned.map((p) => (conditionHolds(p.cond, p.write ? p.write.old : p.old) ? { Code: 'None' } : { Code: 'ConditionalCheckFailed', Message: 'The conditional request failed' }));
    if (reasons.some((r) => r.Code !== 'None')) {
      throw new TransactionCanceledException({
        $metadata: {},
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
        CancellationReasons: reasons,
      });
    }
    for (const p of planned) if (p.write) this.apply(p.write);
    return {};
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
