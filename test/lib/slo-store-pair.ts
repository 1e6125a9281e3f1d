// The DynamoDB SLO store (emulated at the SDK boundary) beside the DuckDB one the local stack
// uses, for tests that expect the same answers from both.
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { DynamoDbEmulator } from './dynamodb-emulator.ts';
import { DuckDbSloStore } from '../../lambda/slo/duckdb-store.ts';
import { DynamoSloStore } from '../../lambda/aws/dynamodb-slo-store.ts';
import type { SloStore } from '../../lambda/slo/store.ts';

export interface SloStorePair {
  readonly emulator: DynamoDbEmulator;
  readonly dynamo: DynamoSloStore;
  readonly duck: DuckDbSloStore;
  /** Runs `fn` on DuckDB, then on DynamoDB, asserts the answers are equal and returns DynamoDB's. */
  both<T>(fn: (s: SloStore) => Promise<T>): Promise<T>;
}

/** Opens the pair before the file's tests and closes it after; call at module level. */
export function sloStorePair(tableName = 'burnwatch-slo'): SloStorePair {
  let emulator: DynamoDbEmulator | undefined;
  let dynamo: DynamoSloStore | undefined;
  let duck: DuckDbSloStore | undefined;
  before(async () => {
    emulator = new DynamoDbEmulator(tableName);
    dynamo = new DynamoSloStore({ tableName });
    duck = await DuckDbSloStore.open(':memory:');
  });
  after(async () => {
    emulator?.restore();
    await duck?.close();
  });
  const opened = <T>(v: T | undefined): T => {
    assert.ok(v, 'the SLO store pair is opened in before()');
    return v;
  };
  return {
    get emulator() { return opened(emulator); },
    get dynamo() { return opened(dynamo); },
    get duck() { return opened(duck); },
    async both<T>(fn: (s: SloStore) => Promise<T>): Promise<T> {
      const a = await fn(opened(duck));
      const b = await fn(opened(dynamo));
      assert.deepEqual(b, a);
      return b;
    },
  };
}
