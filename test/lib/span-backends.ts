// The span stores the span contract runs against: the same tests and the same expected answers
// whichever backend keeps the slow-request spans (DuckDB locally, DynamoDB on AWS).

import { DynamoSpanStore } from '../../lambda/aws/dynamodb-spans.ts';
import { DuckDbSpanStore } from '../../lambda/storage/duckdb-spans.ts';
import type { SpanStore } from '../../lambda/storage/spans.ts';
import { DynamoDbEmulator } from './dynamodb-emulator.ts';

export interface SpanBackend {
  name: string;
  /** A fresh, empty store; `close` also releases what the backend set up (the emulator's mock). */
  open(opts?: { nowMs?: () => number }): Promise<{ store: SpanStore; close(): Promise<void> }>;
}

export const SPAN_BACKENDS: readonly SpanBackend[] = [
  {
    name: 'DuckDB',
    open: async () => {
      const store = await DuckDbSpanStore.open(':memory:');
      return { store, close: () => store.close() };
    },
  },
  {
    name: 'DynamoDB, emulated at the SDK boundary',
    open: async (opts) => {
      const emulator = new DynamoDbEmulator('burnwatch-test-spans');
      const store = new DynamoSpanStore({ tableName: 'burnwatch-test-spans', ...(opts?.nowMs ? { now: opts.nowMs } : {}) });
      return { store, close: async () => (await store.close(), emulator.restore()) };
    },
  },
];
