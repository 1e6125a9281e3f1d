// The storage backends the query-engine suites run against: the same tests, the same expected
// numbers, whichever store is behind the gateway.

import { TimestreamStore } from '../../lambda/storage/timestream.ts';
import type { MetricStore } from '../../lambda/storage/types.ts';
import { TimestreamEmulator } from './timestream-emulator.ts';

export interface StoreBackend {
  name: string;
  /** A fresh store, or undefined for the gateway's default (the DuckDB file under its data directory). */
  open(): Promise<MetricStore | undefined>;
}

export const STORE_BACKENDS: readonly StoreBackend[] = [
  { name: 'DuckDB', open: async () => undefined },
  {
    name: 'Timestream, emulated at the SDK boundary',
    open: async () => {
      const emulator = new TimestreamEmulator();
      return new TimestreamStore({
        database: 'burnwatch-test',
        pointsTable: 'points',
        seriesTable: 'series',
        writeClient: emulator.writeClient,
        queryClient: emulator.queryClient,
      });
    },
  },
];
