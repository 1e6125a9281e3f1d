// Which point store a Lambda function opens, from the environment its construct gave it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricStoreFromEnv } from './env.ts';
import { PrometheusStore } from '../storage/prometheus.ts';
import { TimestreamStore } from '../storage/timestream.ts';

const WORKSPACE = 'ws-11111111-2222-3333-4444-555555555555';

test('metricStoreFromEnv: Timestream unless the function was deployed with BURNWATCH_STORAGE=amp; a missing or bad variable is named', () => {
  const timestream = { BURNWATCH_TIMESTREAM_DATABASE: 'burnwatch-dev', BURNWATCH_TIMESTREAM_POINTS_TABLE: 'points', BURNWATCH_TIMESTREAM_SERIES_TABLE: 'series' };
  assert.ok(metricStoreFromEnv(timestream) instanceof TimestreamStore);
  assert.ok(metricStoreFromEnv({ ...timestream, BURNWATCH_STORAGE: 'timestream' }) instanceof TimestreamStore);
  const amp = { BURNWATCH_STORAGE: 'amp', BURNWATCH_AMP_ENDPOINT: `https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/${WORKSPACE}/`, AWS_REGION: 'eu-west-1' };
  assert.ok(metricStoreFromEnv(amp) instanceof PrometheusStore);
  assert.throws(() => metricStoreFromEnv({ ...amp, BURNWATCH_AMP_ENDPOINT: '' }), /BURNWATCH_AMP_ENDPOINT is not set/);
  assert.throws(() => metricStoreFromEnv({ ...amp, AWS_REGION: undefined }), /AWS_REGION is not set/);
  assert.throws(() => metricStoreFromEnv({ ...amp, BURNWATCH_STORAGE: 'influxdb' }), /BURNWATCH_STORAGE must be one of timestream, amp, got "influxdb"/);
  assert.throws(() => metricStoreFromEnv({}), /BURNWATCH_TIMESTREAM_DATABASE is not set/);
});
