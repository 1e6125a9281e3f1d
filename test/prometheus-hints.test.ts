// The hints engine unchanged over the Prometheus backend: the AWS hints function's path (as on
// AMP) over a real Prometheus 2.42, with the same world and the same expected first hint as the
// Timestream test (lambda/hints/aws.test.ts).

import { after, before, test } from 'node:test';
import { PrometheusStore } from '../lambda/storage/prometheus.ts';
import { checkFrontendAlertHints } from './lib/alert-hints-check.ts';
import { startPrometheus, type PrometheusServer } from './lib/prometheus-server.ts';

let server: PrometheusServer;
before(async () => {
  server = await startPrometheus();
});
after(async () => {
  await server.stop();
});

test('a firing alert on the frontend gets the Redis peer behind the backend as hint 1, from Prometheus', async () => {
  await checkFrontendAlertHints(new PrometheusStore({ remoteWriteUrl: server.remoteWriteUrl, queryUrl: server.url }));
});
