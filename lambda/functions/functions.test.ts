// The three Lambda entries, invoked as Lambda invokes them: full Function URL (payload 2.0)
// events with gzip + base64 OTLP bodies, an EventBridge scheduled event, SNS deliveries. The
// AWS SDK is mocked at the client boundary only (aws-sdk-client-mock): Secrets Manager answers
// the API-keys secret, and Timestream is the in-memory emulator of test/lib, so what ingest
// writes is what the query API and the evaluator read back.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScheduledEvent } from 'aws-lambda';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { PublishCommand } from '@aws-sdk/client-sns';
import { RejectedRecordsException } from '@aws-sdk/client-timestream-write';
import type { AlertTransition } from '../notify/types.ts';
import { transition } from '../../test/lib/alert-fixtures.ts';
import { deploymentNames, FakeDeployment } from '../../test/lib/lambda-deployment.ts';
import { functionUrlEvent, lambdaContext, scheduledEvent, snsEvent } from '../../test/lib/lambda-events.ts';
import { DURATION, expHistogramMetric, jsonBody, protobufBody, resourceMetrics } from '../../test/otlp-fixtures.ts';
import { handler as ingestQuery } from './ingest-query.ts';
import { handler as evaluate } from './evaluate.ts';
import { handler as hints } from './hints.ts';

const NAMES = deploymentNames();
const KEY = 'k-acme-0123456789abcdefghij';
const TOPIC = NAMES.alertTopicArn;
const NOW = Math.floor(Date.now() / 60_000) * 60_000;
const MIN = 60_000;


/** Runs fn with stdout captured (the evaluator writes EMF lines there). */
async function captureStdout<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
  try {
    return { result: await fn(), lines };
  } finally {
    process.stdout.write = write;
  }
}

describe('Lambda entries', () => {
  const aws = new FakeDeployment(NAMES);
  before(() => {
    aws.start({ acme: [KEY], 'o-corp': 'k-ocorp-0123456789abcdefghij' });
  });

  after(() => {
    aws.stop();
  });

  const call = (req: Parameters<typeof functionUrlEvent>[0]) => ingestQuery(functionUrlEvent(req, NOW), lambdaContext('burnwatch-prod-IngestQuery'));
  const auth = { authorization: `Bearer ${KEY}` };

  test('ingest-query: a gzip OTLP/protobuf body arriving base64 is stored, and the query API reads it back', async () => {
    const body = protobufBody(resourceMetrics({ 'service.name': 'checkout', 'host.name': 'h1' }, [
      expHistogramMetric(DURATION, [
        { endMs: NOW - 2 * MIN, attributes: { 'http.response.status_code': 200, 'http.route': '/pay' }, scale: 5, buckets: { [-97]: 90 } },
        { endMs: NOW - MIN, attributes: { 'http.response.status_code': 500, 'http.route': '/pay' }, scale: 5, buckets: { [-33]: 10 } },
      ]),
    ]));
    const event = functionUrlEvent({ method: 'POST', path: '/v1/metrics', headers: { ...auth, 'content-type': 'application/x-protobuf' }, body, gzip: true }, NOW);
    assert.equal(event.isBase64Encoded, true);
    const res = await ingestQuery(event, lambdaContext('burnwatch-prod-IngestQuery'));
    assert.equal(res.statusCode, 200, String(res.body));
    assert.equal(res.headers?.['content-type'], 'application/x-protobuf');
    // What reached Timestream: the tenant from the key, one record per point, nanosecond times.
    const points = aws.timestream.writeInputs().filter((w) => w.TableName === 'points');
    assert.equal(points.length, 1);
    assert.equal(points[0].DatabaseName, 'burnwatch-prod');
    assert.deepEqual(points[0].CommonAttributes?.Dimensions, [{ Name: 'tenant', Value: 'acme', DimensionValueType: 'VARCHAR' }]);
    assert.deepEqual(points[0].Records!.map((r) => r.Time).sort(), [String(BigInt(NOW - 2 * MIN) * 1_000_000n), String(BigInt(NOW - MIN) * 1_000_000n)]);

    const q = await call({
      method: 'GET', path: '/v1/query', headers: auth,
      query: { service: 'checkout', metric: DURATION, agg: 'count', by: 'http.response.status_code', from: String((NOW - 5 * MIN) / 1000), to: String(NOW / 1000) },
    });
    assert.equal(q.statusCode, 200, String(q.body));
    assert.equal(q.isBase64Encoded, false);
    assert.deepEqual(JSON.parse(q.body!), {
      series: [
        { labels: { 'http.response.status_code': '200' }, points: [[NOW / 1000, 90]] },
        { labels: { 'http.response.status_code': '500' }, points: [[NOW / 1000, 10]] },
      ],
    });
    // The secret was read once, at the cold start.
    assert.equal(aws.secrets.commandCalls(GetSecretValueCommand).length, 1);
  });

  test('ingest-query: a point Timestream refuses for good comes back as an OTLP partial success', async () => {
    const reason = 'The record timestamp is outside the time range [2026-11-22T14:00:00Z, 2026-11-23T14:15:00Z) of the memory store.';
    aws.timestream.tableFaults.set('points', [
      new RejectedRecordsException({ $metadata: {}, message: 'One or more records have been rejected.', RejectedRecords: [{ RecordIndex: 0, Reason: reason }] }),
    ]);
    const body = jsonBody(resourceMetrics({ 'service.name': 'checkout', 'host.name': 'h9' }, [
      expHistogramMetric(DURATION, [{ endMs: NOW - 3 * MIN, attributes: { 'http.response.status_code': 200 }, scale: 5, buckets: { [-97]: 1 } }]),
    ]));
    const res = await call({ method: 'POST', path: '/v1/metrics', headers: { ...auth, 'content-type': 'application/json' }, body, gzip: true });
    assert.equal(res.statusCode, 200, String(res.body));
    const answer = JSON.parse(res.body!);
    assert.equal(Number(answer.partialSuccess.rejectedDataPoints), 1);
    assert.equal(answer.partialSuccess.errorMessage, `1 point(s) refused by storage, first: ${reason}`);
  });

  test('ingest-query: bad requests get the gateway\'s 4xx answers, never a crash', async () => {
    const unauthorised = await call({ method: 'GET', path: '/v1/services', headers: { authorization: 'Bearer nope-nope-nope-nope' } });
    assert.equal(unauthorised.statusCode, 401);
    assert.equal(JSON.parse(unauthorised.body!).error.code, 'unauthorized');
    const badGzip = await call({
      method: 'POST', path: '/v1/metrics', body: Buffer.from('not gzip at all'),
      headers: { ...auth, 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
    });
    assert.equal(badGzip.statusCode, 400);
    assert.equal(JSON.parse(badGzip.body!).error.code, 'invalid_gzip');
    const health = await call({ method: 'GET', path: '/healthz' });
    assert.deepEqual([health.statusCode, JSON.parse(health.body!)], [200, { status: 'ok' }]);
  });

  test('evaluate: a scheduled event evaluates every tenant at the schedule time and publishes EMF', async () => {
    const { result: summary, lines } = await captureStdout(() => evaluate(scheduledEvent(new Date(NOW).toISOString())));
    const docs = lines.map((l) => JSON.parse(l));
    const published = aws.sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    const { rollup_chunks, rollup_chunks_left, timeout_ms, elapsed_ms, ...counts } = summary;
    assert.deepEqual(counts, { at: new Date(NOW).toISOString(), tenants: 2, slos: 2, transitions: published.length, failed: [], skipped: [] });
    // Called without a Lambda context: no deadline, so every rollup chunk is read in this run.
    assert.deepEqual([rollup_chunks > 0, rollup_chunks_left, timeout_ms, elapsed_ms >= 0], [true, 0, null, true]);
    // 10 of 100 requests failed against 99.9%: burn rate 0.1 / 0.001 = 100 in every window, budget 1 − 100 = −99.
    // 10 of 100 took longer than 300 ms against 99%: burn rate 10, budget −9.
    const near = (a: number, b: number) => Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(b));
    const windows = ['1h', '6h'];
    for (const [slo, burn] of [['checkout:availability', 100], ['checkout:latency', 10]] as const) {
      const doc = docs.find((d) => d.Slo === slo);
      assert.deepEqual(doc._aws.CloudWatchMetrics, [{
        Namespace: 'Burnwatch/prod',
        Dimensions: [['Stage', 'Tenant', 'Service', 'Slo'], ['Stage']],
        Metrics: ['BudgetRemaining', ...windows.map((w) => `BurnRate${w}`)].map((Name) => ({ Name, Unit: 'None' })),
      }]);
      assert.deepEqual([doc._aws.Timestamp, doc.Stage, doc.Tenant, doc.Service], [NOW, 'prod', 'acme', 'checkout']);
      assert.ok(near(doc.BudgetRemaining, 1 - burn), `${slo} budget ${doc.BudgetRemaining}`);
      for (const w of windows) assert.ok(near(doc[`BurnRate${w}`], burn), `${slo} ${w}: ${doc[`BurnRate${w}`]}`);
    }
    // Alert transitions went to SNS with the attributes subscriptions filter on, and into DynamoDB.
    assert.ok(published.length > 0);
    for (const p of published) {
      assert.equal(p.TopicArn, TOPIC);
      assert.ok(['pending', 'firing'].includes(p.MessageAttributes!.to.StringValue!), p.Subject);
      assert.equal(p.MessageAttributes!.tenant.StringValue, 'acme');
    }
    assert.ok(published.some((p) => p.MessageAttributes!.to.StringValue === 'firing' && JSON.parse(JSON.parse(p.Message!).lambda).slo_id === 'checkout:availability'));
    // Firing ones go out without hints, for the hints function: the window chosen, the hints pending.
    for (const p of published) {
      const t = JSON.parse(JSON.parse(p.Message!).lambda);
      assert.equal(p.MessageAttributes!.hints.StringValue, t.to === 'firing' ? 'pending' : 'none');
      assert.equal('hints' in t, false);
      if (t.to === 'firing') assert.deepEqual([t.hints_meta.status, t.hints_meta.to], ['pending', NOW / 1000]);
    }
    assert.equal([...aws.dynamo.items.values()].filter((i) => i.pk === 'T#acme').length, published.length);
    // The same minute again (a retried or duplicate invocation): the run guard refuses it, says so, publishes nothing.
    const again = await captureStdout(() => evaluate(scheduledEvent(new Date(NOW).toISOString())));
    assert.deepEqual([again.result.transitions, again.result.slos], [0, 0]);
    assert.deepEqual(again.result.skipped.map((s) => [s.tenant, s.already_evaluated_at]), [['acme', new Date(NOW).toISOString()], ['o-corp', new Date(NOW).toISOString()]]);
    assert.equal(again.lines.length, 0);
    assert.equal(aws.sns.commandCalls(PublishCommand).length, published.length);
    const notScheduled = { ...scheduledEvent('2026-11-23T14:00:00Z'), 'detail-type': 'Object Created' } as unknown as ScheduledEvent;
    await assert.rejects(evaluate(notScheduled), /expected an EventBridge "Scheduled Event"/);
  });

  test('hints: a firing alert from SNS gets its hints computed over Timestream; a bad one fails for the DLQ', async () => {
    const result = await hints(snsEvent([JSON.stringify(transition)], { to: 'firing' }));
    // checkout has data (the ingest test above) but none around the alert, days earlier: nothing made up, and it says where it looked.
    assert.deepEqual(result.results.map((r) => ({ ...r, hints: r.hints.map((h) => h.kind) })), [
      {
        alert_id: transition.alert_id, slo_id: 'checkout:availability', tenant: 'acme', service: 'checkout', status: 'no_data', from: Date.parse('2026-11-23T13:45:00Z') / 1000, to: Date.parse(transition.at) / 1000, hints: [],
        message: 'service "checkout": no data has been received for it from 2026-11-23T12:45:00.000Z to 2026-11-23T14:00:00.000Z (the window and the hour before it)',
      },
    ]);
    // Invoked directly (aws lambda invoke) with the transition itself; a service never seen has no data.
    assert.equal((await hints(transition)).results[0].status, 'no_data');
    assert.match(String((await hints({ ...transition, service: 'nobody' })).results[0].message), /service "nobody": no data has been received for it/);
    await assert.rejects(hints(snsEvent(['{"id": 1}'])), /Records\[0\]\.Sns\.Message\.id: must be a non-empty string/);
    await assert.rejects(hints(snsEvent(['not json'])), /Records\[0\]\.Sns\.Message: not JSON/);
    await assert.rejects(hints({ ...transition, to: 'exploded' }), /event\.to: must be pending, firing or resolved/);
    await assert.rejects(hints({ ...transition, hints_meta: { status: 'pending', from: 'yesterday', to: 1 } }), /event\.hints_meta: from and to must be unix seconds with from < to/);
  });

  test('hints: the evaluator\'s firing alert is enriched — kept with the stored transition, published again with hints attached (not to itself), shown by /v1/alerts; /v1/hints answers on the Function URL', async () => {
    const raw = aws.sns.commandCalls(PublishCommand).map((c) => c.args[0].input).find((p) => p.MessageAttributes!.to.StringValue === 'firing' && p.MessageAttributes!.hints.StringValue === 'pending')!;
    const pending = JSON.parse(JSON.parse(raw.Message!).lambda) as AlertTransition;
    const before = aws.sns.commandCalls(PublishCommand).length;
    const { results } = await hints(snsEvent([JSON.parse(raw.Message!).lambda], { to: 'firing', hints: 'pending' }));
    assert.deepEqual(results.map((r) => [r.alert_id, r.status, r.from, r.to]), [[pending.alert_id, 'computed', pending.hints_meta!.from, pending.hints_meta!.to]]);
    assert.ok(results[0].hints.length >= 1 && results[0].hints.length <= 3);
    // Published once more: the same transition with its hints, an attribute the hints subscription refuses.
    const out = aws.sns.commandCalls(PublishCommand).slice(before).map((c) => c.args[0].input);
    assert.equal(out.length, 1);
    assert.deepEqual([out[0].TopicArn, out[0].MessageAttributes!.to.StringValue, out[0].MessageAttributes!.hints.StringValue], [TOPIC, 'firing', 'attached']);
    const enriched = JSON.parse(JSON.parse(out[0].Message!).lambda) as AlertTransition;
    assert.deepEqual(enriched, { ...pending, hints: results[0].hints, hints_meta: { status: 'computed', from: pending.hints_meta!.from, to: pending.hints_meta!.to } });
    assert.match(JSON.parse(out[0].Message!).email, new RegExp(`Likely cause: ${results[0].hints[0].kind}: `));
    // Delivered again by a filter that lets it through: no second computation, nothing published.
    await hints(snsEvent([JSON.stringify(enriched)]));
    assert.equal(aws.sns.commandCalls(PublishCommand).length, before + 1);
    // Kept in DynamoDB: /v1/alerts and /v1/alerts/events on the Function URL show what was said.
    const alerts = await call({ method: 'GET', path: '/v1/alerts', headers: auth, query: { service: 'checkout', state: 'firing' } });
    const alert = JSON.parse(alerts.body!).alerts.find((a: { id: string }) => a.id === pending.alert_id);
    assert.deepEqual([alert.hints, alert.hints_meta], [enriched.hints, enriched.hints_meta]);
    const events = JSON.parse((await call({ method: 'GET', path: '/v1/alerts/events', headers: auth, query: { slo_id: pending.slo_id } })).body!).events as AlertTransition[];
    assert.deepEqual(events.find((e) => e.id === pending.id), enriched);
    // GET /v1/hints over Timestream, without a span store, through the Lambda gateway.
    const asked = await call({ method: 'GET', path: '/v1/hints', headers: auth, query: { service: 'checkout', from: String(pending.hints_meta!.from), to: String(pending.hints_meta!.to) } });
    assert.equal(asked.statusCode, 200, String(asked.body));
    const report = JSON.parse(asked.body!);
    assert.deepEqual([report.service, report.from, report.to], ['checkout', pending.hints_meta!.from, pending.hints_meta!.to]);
    assert.deepEqual(report.hints.slice(0, 3), enriched.hints);
    assert.equal((await call({ method: 'GET', path: '/v1/hints', headers: auth, query: { service: 'checkout', from: 'soon' } })).statusCode, 400);
  });
});
