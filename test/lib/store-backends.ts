// The storage backends the query-engine suites run against: the same tests, the same expected
// numbers, whichever store is behind the gateway.

import { PrometheusStore } from '../../lambda/storage/prometheus.ts';
import { TimestreamStore } from '../../lambda/storage/timestream.ts';
import type { MetricStore } from '../../lambda/storage/types.ts';
import { TimestreamEmulator } from './timestream-emulator.ts';
import { startPrometheus } from './prometheus-server.ts';

export interface StoreBackend {
  name: string;
  /**
   * A fresh store, or undefined for the gateway's default (the DuckDB file under its data
   * directory). `now`: the clock of a test that fixes one (Timestream keeps only recent data in
   * its memory store; older writes become readable hours later).
   */
  open(now?: () => number): Promise<MetricStore | undefined>;
}

export const STORE_BACKENDS: readonly StoreBackend[] = [
  { name: 'DuckDB', open: async () => undefined },
  {
    name: 'Timestream, emulated at the SDK boundary',
    open: async (now = Date.now) => {
      const emulator = new TimestreamEmulator();
      emulator.now = now;
      return new TimestreamStore({
        now,
        database: 'burnwatch-test',
        pointsTable: 'points',
        seriesTable: 'series',
        writeClient: emulator.writeClient,
        queryClient: emulator.queryClient,
      });
    },
  },
  {
    name: 'Prometheus 2.42, a real server',
    open: async () => {
      const server = await startPrometheus();
      const store = new PrometheusStore({ remoteWriteUrl: server.remoteWriteUrl, queryUrl: server.url });
      // The server lives as long as the store: the gateway closes the store it was given.
      const closeStore = store.close.bind(store);
      store.close = async () => {
        await closeStore();
        await server.stop();
      };
      return store;
    },
  },
];
