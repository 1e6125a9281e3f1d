// The memory-store retention a function is deployed with reaches TimestreamStore: a point older
// than it is reported late (magnetic store, readable only later); a bad value is named.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimestreamEmulator } from '../../test/lib/timestream-emulator.ts';
import { metricStoreFromEnv } from './env.ts';

const HOUR = 3_600_000;
const TIMESTREAM = { BURNWATCH_TIMESTREAM_DATABASE: 'burnwatch-dev', BURNWATCH_TIMESTREAM_POINTS_TABLE: 'points', BURNWATCH_TIMESTREAM_SERIES_TABLE: 'series', AWS_REGION: 'eu-west-1' };

test('BURNWATCH_TIMESTREAM_*_MEMORY_HOURS: what is older is written late; a bad value is named', async (t) => {
  const emulator = new TimestreamEmulator('classes');
  t.after(() => emulator.restore());
  emulator.tableSettings.set('points', { memoryRetentionHours: 2 });
  const endNs = BigInt(Date.now() - 3 * HOUR) * 1_000_000n;
  const point = { series: { metric: 'orders', unit: '', resource: { 'service.name': 'shop' }, attributes: {} }, startNs: endNs - 10_000_000_000n, endNs, kind: 'gauge' as const, value: 1 };

  const told = metricStoreFromEnv({ ...TIMESTREAM, BURNWATCH_TIMESTREAM_POINTS_MEMORY_HOURS: '2', BURNWATCH_TIMESTREAM_SERIES_MEMORY_HOURS: '48' });
  t.after(() => told.close());
  const result = await told.write('acme', [point]);
  assert.deepEqual(result.late?.indices, [0]);
  assert.match(result.late!.reason, /memory store keeps \(2 h for points, 48 h for their series records\)/);
  // The first write went to the magnetic store in a request of its own, as the told retention says.
  assert.deepEqual(emulator.writeInputs().filter((w) => w.TableName === 'points').map((w) => w.Records!.length), [1]);

  assert.throws(() => metricStoreFromEnv({ ...TIMESTREAM, BURNWATCH_TIMESTREAM_POINTS_MEMORY_HOURS: '6h', BURNWATCH_TIMESTREAM_SERIES_MEMORY_HOURS: '48' }),
    /BURNWATCH_TIMESTREAM_POINTS_MEMORY_HOURS must be whole hours in \[1, 8766\] \(Timestream's memory-store retention\), got "6h"/);
  assert.throws(() => metricStoreFromEnv({ ...TIMESTREAM, BURNWATCH_TIMESTREAM_POINTS_MEMORY_HOURS: '6' }), /BURNWATCH_TIMESTREAM_SERIES_MEMORY_HOURS is not set/);
});
