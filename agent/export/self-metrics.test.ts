import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { AGENT_ATTR, AGENT_METRIC, METRICS } from '../../common/catalogue.ts';
import { encodeMetrics } from './otlp.ts';
import { AgentSelfMetrics } from './self-metrics.ts';
import { Shipper } from './shipper.ts';
import { Spool } from './spool.ts';
import { decodeMetricsRequest, startReceiver } from './testkit.ts';
import { metricsResponseBody } from '../../lambda/otlp/metrics.ts';
import { decodeOtlp } from '../../lambda/otlp/decode.ts';
import { normaliseMetricsRequest } from '../../lambda/otlp/normalise.ts';
import { ExportMetricsServiceRequest } from '../../lambda/otlp/schema.ts';
import type { DecodedMetric } from './testkit.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed + 1;
  for (let i = 0; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

function byName(metrics: DecodedMetric[]): Map<string, DecodedMetric> {
  return new Map(metrics.map((m) => [m.name, m]));
}

const reasonValues = (m: DecodedMetric) => Object.fromEntries(m.points.map((p) => [p.attributes[AGENT_ATTR.dropReason], p.value]));

test('self-metrics report sent, rejected, warned, retried and dropped batches as deltas between collects', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'burnwatch-self-'));
  dirs.push(dir);
  writeFileSync(join(dir, '000000000007-1700000000000.pb.gz'), 'garbage from a previous run');
  const one = gzipSync(noise(1000, 0)).length;
  const spool = new Spool(dir, { maxBytes: 2 * one + 10, maxAgeMs: 3_600_000 });
  const receiver = await startReceiver();
  const warning = { status: 200, headers: { 'Content-Type': 'application/x-protobuf' }, body: metricsResponseBody('protobuf', { rejectedDataPoints: 0, errorMessage: '1 point(s) stored but readable only later' }) };
  receiver.script.push({ status: 503 }, { status: 400, body: 'bad batch' }, warning);
  const shipper = new Shipper({ endpoint: receiver.url, apiKey: 'k', spool, backoff: { initialMs: 5, maxMs: 10 }, log: () => {} });
  const self = new AgentSelfMetrics({ spool, shipper }, { resource: { 'service.name': 'burnwatch-agent', 'host.name': 'h1' } });
  try {
    await receiver.down(); // let three batches pile up so the size bound drops one
    for (let i = 0; i < 3; i++) await spool.put(noise(1000, i));
    await receiver.up();
    assert.equal(await shipper.flush(5000), true);

    const t1 = self.collect();
    const [res] = decodeMetricsRequest(encodeMetrics([t1]));
    const atGateway = normaliseMetricsRequest(decodeOtlp(ExportMetricsServiceRequest, encodeMetrics([t1]), 'protobuf'));
    assert.deepEqual(atGateway.rejections, [], 'the gateway accepts every self-metric point');
    assert.equal(atGateway.points.length, 14);
    assert.deepEqual(res.attributes, { 'service.name': 'burnwatch-agent', 'host.name': 'h1' });
    const m = byName(res.scopes[0].metrics);
    for (const name of Object.values(AGENT_METRIC)) {
      assert.ok(m.has(name), `${name} is exported`);
      assert.equal(m.get(name)!.unit, METRICS[name].unit);
    }
    const value = (name: string) => m.get(name)!.points[0].value;
    assert.equal(m.get(AGENT_METRIC.sentBatches)!.kind, 'sum');
    assert.equal(m.get(AGENT_METRIC.sentBatches)!.temporality, 1);
    assert.equal(value(AGENT_METRIC.sentBatches), 1);
    assert.equal(value(AGENT_METRIC.rejectedBatches), 1);
    assert.equal(value(AGENT_METRIC.warnedBatches), 1, 'the batch answered with a warning (it was also sent)');
    assert.ok(value(AGENT_METRIC.retries)! >= 1, 'the 503 and the refused connections were retried');
    assert.equal(value(AGENT_METRIC.retries), shipper.stats().retries);
    assert.deepEqual(reasonValues(m.get(AGENT_METRIC.droppedBatches)!), { size: 1, age: 0, disk_full: 0, corrupt: 1 });
    assert.deepEqual(reasonValues(m.get(AGENT_METRIC.droppedBytes)!), { size: one, age: 0, disk_full: 0, corrupt: 'garbage from a previous run'.length });
    assert.equal(m.get(AGENT_METRIC.spoolBatches)!.kind, 'gauge');
    assert.equal(value(AGENT_METRIC.spoolBatches), 0);

    // The next interval starts where the previous ended and carries only what changed.
    await spool.put(noise(10, 9));
    assert.equal(await shipper.flush(5000), true);
    const [again] = decodeMetricsRequest(encodeMetrics([self.collect()]));
    const m2 = byName(again.scopes[0].metrics);
    const p1 = m.get(AGENT_METRIC.sentBatches)!.points[0];
    const p2 = m2.get(AGENT_METRIC.sentBatches)!.points[0];
    assert.equal(p2.startTimeUnixNano, p1.timeUnixNano);
    assert.ok(p2.timeUnixNano > p2.startTimeUnixNano);
    assert.equal(p2.value, 1);
    assert.equal(m2.get(AGENT_METRIC.rejectedBatches)!.points[0].value, 0);
    assert.equal(m2.get(AGENT_METRIC.warnedBatches)!.points[0].value, 0);
    assert.deepEqual(reasonValues(m2.get(AGENT_METRIC.droppedBatches)!), { size: 0, age: 0, disk_full: 0, corrupt: 0 });

    assert.throws(() => self.collect(p2.timeUnixNano), /must be after the previous collect's end/);
  } finally {
    await shipper.close();
    await receiver.close();
  }
});
