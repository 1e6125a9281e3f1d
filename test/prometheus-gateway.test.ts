// `burnwatch gateway --storage prometheus:URL` as a user runs it: OTLP in, stored in a real
// Prometheus under the local tenant, read back through the query API; a bad URL is a usage error.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { startPrometheus, type PrometheusServer } from './lib/prometheus-server.ts';
import { burnwatch, freePort, startGatewayProcess, tempDir, type Managed } from './lib/processes.ts';
import { DURATION, GatewayClient, expHistogramMetric, jsonBody, protobufBody, resourceMetrics } from './otlp-fixtures.ts';
import { LOCAL_TENANT } from '../lambda/local/server.ts';

const KEY = 'prometheus-gateway-test-key-0123456789';
let server: PrometheusServer;
let gateway: Managed;
let dataDir: string;
let client: GatewayClient;

before(async () => {
  server = await startPrometheus();
  dataDir = tempDir('burnwatch-prom-gw');
  const port = await freePort();
  gateway = await startGatewayProcess(port, dataDir, KEY, ['--storage', `prometheus:${server.url}`]);
  client = new GatewayClient(`http://127.0.0.1:${port}`, KEY);
});

after(async () => {
  await gateway?.stop();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('points sent to the gateway are stored in Prometheus under the local tenant and served by the query API', async () => {
  assert.match(gateway.output(), new RegExp(`metrics in Prometheus at ${server.url}`));
  const now = Date.now();
  const body = protobufBody(resourceMetrics({ 'service.name': 'prom-cli' }, [
    expHistogramMetric(DURATION, [{ endMs: now - 30_000, attributes: { 'http.route': '/a', 'http.response.status_code': 200 }, scale: 5, buckets: { [-97]: 40, [-33]: 2 } }]),
  ]));
  const res = await client.postMetrics(body);
  assert.equal(res.status, 200, await res.text());
  const q = await fetch(`${server.url}/api/v1/query?${new URLSearchParams({ query: `sum(http_server_request_duration_seconds_count{tenant="${LOCAL_TENANT}",service_name="prom-cli"})`, time: String(now / 1000) })}`);
  const result = ((await q.json()) as { data: { result: { value: [number, string] }[] } }).data.result;
  assert.deepEqual(result.map((r) => r.value[1]), ['42']);
  const services = await client.getJson<{ services: { name: string; requests: number }[] }>('/v1/services');
  const svc = services.services.find((s) => s.name === 'prom-cli');
  assert.equal(svc?.requests, 42, JSON.stringify(services));
});

test('a replayed point older than the out-of-order window is a partial success naming the reason; the rest of the batch is stored', async () => {
  const now = Date.now();
  const attributes = { 'http.route': '/late', 'http.response.status_code': 200 };
  const body = jsonBody(resourceMetrics({ 'service.name': 'prom-late' }, [
    expHistogramMetric(DURATION, [
      { endMs: now - 100 * 86_400_000, attributes, scale: 5, buckets: { [-97]: 5 } },
      { endMs: now - 20_000, attributes, scale: 5, buckets: { [-97]: 3 } },
    ]),
  ]));
  const res = await client.postMetrics(body, 'application/json');
  assert.equal(res.status, 200);
  const answer = (await res.json()) as { partialSuccess?: { rejectedDataPoints?: string | number; errorMessage?: string } };
  assert.equal(Number(answer.partialSuccess?.rejectedDataPoints), 1, JSON.stringify(answer));
  assert.match(answer.partialSuccess?.errorMessage ?? '', /1 point\(s\) refused by storage, first: Prometheus refused the samples: too old sample/);
  const services = await client.getJson<{ services: { name: string; requests: number }[] }>('/v1/services');
  assert.equal(services.services.find((s) => s.name === 'prom-late')?.requests, 3);
});

test('burnwatch gateway and up refuse a --storage they cannot use, before touching anything', async () => {
  for (const command of ['gateway', 'up']) {
    const untouched = `${dataDir}-${command}-never-created`;
    const p: Managed = burnwatch([command, '--data-dir', untouched, '--storage', 'prometheus:localhost:9090']);
    const code = await new Promise<number | null>((resolve) => p.child.once('exit', resolve));
    assert.equal(code, 2, p.output());
    assert.match(p.output(), /--storage prometheus:URL needs an http\(s\) URL, got "localhost:9090"/);
    assert.equal(existsSync(untouched), false, 'no data directory, no API key written');
  }
});
