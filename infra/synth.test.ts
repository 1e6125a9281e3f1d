// `cdk synth` as a user runs it: the pinned CLI, cdk.json, no AWS credentials, no network, the
// local esbuild bundling each function (no Docker), cdk-nag failing the synth on any finding.
// Then the bundles themselves are loaded in a fresh Node process and invoked: the hints bundle
// with an SNS event, the gateway bundle with Function URL events, its Secrets Manager, Timestream
// and DynamoDB clients pointed (AWS_ENDPOINT_URL_<SERVICE>) at a stand-in HTTP server here — so
// the SDK inside the bundle really serialises, signs and sends its requests.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { transition } from '../test/lib/alert-fixtures.ts';
import { functionUrlEvent, snsEvent } from '../test/lib/lambda-events.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** An environment with no AWS credentials or profile, and the CLI kept offline. */
function offlineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')));
  return { ...env, CDK_DISABLE_VERSION_CHECK: '1', CDK_HOME: join(ROOT, '.cdk'), ...extra };
}

/** Runs `script` in a fresh node with the bundle at `bundle` required as `handler`; resolves its stdout JSON. */
function runBundle(bundle: string, script: string, env: NodeJS.ProcessEnv, stderr?: (text: string) => void): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', `const { handler } = require(${JSON.stringify(bundle)}); (async () => { ${script} })().then((r) => process.stdout.write(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });`], { env, cwd: tmpdir() });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (stderr?.(err), code === 0 ? resolve(JSON.parse(out.slice(out.lastIndexOf('\n') + 1))) : reject(new Error(`bundle exited ${code}: ${err}`))));
  });
}

describe('cdk synth (CLI, offline, real bundling)', () => {
  let outdir: string;
  let template: { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
  const bundle = (descriptionStart: string) => {
    const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Description).startsWith(descriptionStart))!;
    const key = String(fn.Properties.Code.S3Key);
    return join(outdir, `asset.${key.replace(/\.zip$/, '')}`, 'index.js');
  };

  before(() => {
    outdir = mkdtempSync(join(tmpdir(), 'burnwatch-synth-'));
    const res = spawnSync('npx', ['cdk', 'synth', '-c', 'stage=ci', '-c', 'alertEmail=oncall@example.com', '--quiet', '-o', outdir], {
      cwd: ROOT, env: offlineEnv(), encoding: 'utf8', timeout: 180_000,
    });
    assert.equal(res.status, 0, `cdk synth failed (${res.status}):\n${res.stdout}\n${res.stderr}`);
    template = JSON.parse(readFileSync(join(outdir, 'burnwatch-ci.template.json'), 'utf8'));
  });

  after(() => rmSync(outdir, { recursive: true, force: true }));

  test('the template and one esbuild bundle per function, with cdk-nag passing', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as { pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[] };
    assert.deepEqual(report.pluginReports.map((p) => [p.pluginName, p.conclusion, p.violations.length]), [['AwsSolutions', 'success', 0], ['CloudFormation Validate', 'success', 0]]);
    for (const d of ['burnwatch gateway', 'burnwatch SLO evaluator', 'burnwatch root-cause hints']) {
      const file = bundle(d);
      assert.ok(existsSync(file), `${d}: ${file}`);
      const code = readFileSync(file, 'utf8');
      // The embedded store's native binding never ships to Lambda.
      assert.doesNotMatch(code, /duckdb\.node/);
    }
  });

  test('the gateway bundle loads its API keys once and answers Function URL events through Timestream and DynamoDB clients', async () => {
    const calls: { target: string | undefined; body: string; headers: IncomingHttpHeaders }[] = [];
    const server = createServer((req, res) => serve(req, res));
    const serve = (req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const target = req.headers['x-amz-target'] as string | undefined;
        calls.push({ target, body, headers: req.headers });
        // SNS speaks the query protocol: a form body, an XML answer.
        if (target === undefined && new URLSearchParams(body).get('Action') === 'Publish') {
          res.setHeader('content-type', 'text/xml');
          res.end('<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>');
          return;
        }
        res.setHeader('content-type', target?.startsWith('DynamoDB') ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1');
        const answers: Record<string, unknown> = {
          'secretsmanager.GetSecretValue': { ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys', Name: 'keys', SecretString: JSON.stringify({ acme: 'k-acme-0123456789abcdefghij' }) },
          'Timestream_20181101.Query': { QueryId: 'q-1', Rows: [], ColumnInfo: [] },
          'DynamoDB_20120810.Query': { Items: [], Count: 0 },
          'DynamoDB_20120810.GetItem': {},
          'DynamoDB_20120810.UpdateItem': {},
          'DynamoDB_20120810.PutItem': {},
          'Timestream_20181101.DescribeEndpoints': { Endpoints: [{ Address: '127.0.0.1', CachePeriodInMinutes: 1440 }] },
        };
        if (target === undefined || !(target in answers)) {
          res.statusCode = 400;
          res.end(JSON.stringify({ __type: 'UnknownOperationException', message: `stand-in does not know ${target}` }));
          return;
        }
        res.end(JSON.stringify(answers[target]));
      });
    };
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const env = offlineEnv({
        AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test',
        // Each service's endpoint pointed here. Seen with this SDK: an endpoint from the environment
        // does not turn Timestream's endpoint discovery off (DescribeEndpoints is still called first),
        // but the operations then go to the configured endpoint, not to the address discovered.
        ...Object.fromEntries(['SECRETS_MANAGER', 'DYNAMODB', 'TIMESTREAM_QUERY', 'TIMESTREAM_WRITE', 'SNS'].map((s) => [`AWS_ENDPOINT_URL_${s}`, `http://127.0.0.1:${(server.address() as AddressInfo).port}`])),
        BURNWATCH_SLO_TABLE: 'burnwatch-ci-slo',
        BURNWATCH_SPANS_TABLE: 'burnwatch-ci-spans',
        BURNWATCH_TIMESTREAM_DATABASE: 'burnwatch-ci', BURNWATCH_TIMESTREAM_POINTS_TABLE: 'points', BURNWATCH_TIMESTREAM_SERIES_TABLE: 'series',
        BURNWATCH_API_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys',
        BURNWATCH_ALERT_TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:burnwatch-ci-alerts',
      });
      const events = [
        functionUrlEvent({ method: 'GET', path: '/healthz' }),
        functionUrlEvent({ method: 'GET', path: '/v1/services', headers: { authorization: 'Bearer wrong-key-0123456789' } }),
        functionUrlEvent({ method: 'POST', path: '/v1/metrics', headers: { authorization: 'Bearer k-acme-0123456789abcdefghij', 'content-type': 'text/csv' }, body: Buffer.from('a,b') }),
        // Through the SLO engine: Timestream (series seen) and DynamoDB (SLO specs, alerts), both empty.
        functionUrlEvent({ method: 'GET', path: '/v1/slos', headers: { authorization: 'Bearer k-acme-0123456789abcdefghij' } }),
        // The dashboard, embedded in the bundle: the page without a key, a gzipped asset.
        functionUrlEvent({ method: 'GET', path: '/' }),
        functionUrlEvent({ method: 'GET', path: '/assets/app.js', headers: { 'accept-encoding': 'gzip' } }),
        // A slow request's root span, stored in the span table by the bundled DynamoDB client.
        functionUrlEvent({
          method: 'POST', path: '/v1/traces', headers: { authorization: 'Bearer k-acme-0123456789abcdefghij', 'content-type': 'application/json' },
          body: Buffer.from(JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] }, scopeSpans: [{ spans: [{
            traceId: '0102030405060708090a0b0c0d0e0f10', spanId: '0102030405060708', name: 'GET /pay', kind: 'SPAN_KIND_SERVER', startTimeUnixNano: '1795000000000000000', endTimeUnixNano: '1795000000500000000',
          }] }] }] })),
        }),
      ];
      let log = '';
      const all = (await runBundle(bundle('burnwatch gateway'), `const out = []; for (const e of ${JSON.stringify(events)}) out.push(await handler(e, {})); return out;`, env, (t) => (log = t))) as { statusCode: number; body: string; headers: Record<string, string>; isBase64Encoded: boolean }[];
      const [page, script, traces] = all.slice(4);
      assert.equal(traces.statusCode, 200, log);
      const spanPuts = calls.filter((c) => c.target === 'DynamoDB_20120810.PutItem').map((c) => JSON.parse(c.body));
      assert.deepEqual(spanPuts.map((p) => [p.TableName, p.ConditionExpression ?? null, p.Item.expires_at.N]), [
        ['burnwatch-ci-spans', 'attribute_not_exists(pk)', String(1_795_000_000 + 14 * 86_400)],
        ['burnwatch-ci-spans', null, String(1_795_000_000 + 14 * 86_400)],
      ]);
      assert.deepEqual(spanPuts[0].Item.pk, { S: 'T#acme#0102030405060708090a0b0c0d0e0f10' });
      assert.equal(page.statusCode, 200, log);
      assert.match(page.headers['content-type'], /^text\/html/);
      assert.match(page.isBase64Encoded ? Buffer.from(page.body, 'base64').toString() : page.body, /<div id="app">/);
      assert.deepEqual([script.statusCode, script.headers['content-encoding'], script.isBase64Encoded], [200, 'gzip', true]);
      assert.match(gunzipSync(Buffer.from(script.body, 'base64')).toString(), /sessionStorage/);
      const results = all.slice(0, 4);
      assert.deepEqual(results.map((r) => [r.statusCode, JSON.parse(r.body)]), [
        [200, { status: 'ok' }],
        [401, { error: { code: 'unauthorized', message: 'the API key is not valid' } }],
        [415, { error: { code: 'unsupported_media_type', message: 'Content-Type "text/csv" is not OTLP; send application/x-protobuf or application/json' } }],
        [200, { slos: [] }],
      ], log);
      assert.equal(calls.filter((c) => c.target === 'secretsmanager.GetSecretValue').length, 1, 'one GetSecretValue for six invocations');
      assert.equal(calls[0].target, 'secretsmanager.GetSecretValue');
      assert.ok(calls.some((c) => c.target === 'Timestream_20181101.Query' && /^SELECT \* FROM "burnwatch-ci"\."series" WHERE tenant = 'acme'/.test(JSON.parse(c.body).QueryString)), JSON.stringify(calls.map((c) => [c.target, c.body.slice(0, 120)])));
      assert.ok(calls.some((c) => c.target?.startsWith('DynamoDB_20120810.') && JSON.parse(c.body).TableName === 'burnwatch-ci-slo'), JSON.stringify(calls.map((c) => [c.target, c.body.slice(0, 120)])));
      assert.deepEqual(JSON.parse(calls[0].body), { SecretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys' });
      assert.match(String(calls[0].headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request/);
      assert.ok(calls.some((c) => c.target === 'Timestream_20181101.DescribeEndpoints'), 'endpoint discovery ran');
      // The hints bundle over the same stand-ins answers an SNS-delivered firing alert: its service has no data there, so no hint is made up.
      const before = calls.length;
      const hinted = (await runBundle(bundle('burnwatch root-cause hints'), `return handler(${JSON.stringify(snsEvent([JSON.stringify(transition)]))});`, env)) as { results: { status: string; message: string }[] };
      assert.deepEqual(hinted.results.map((r) => [r.status, r.message]), [['no_data', 'service "checkout": no data has been received for it from 2026-11-23T12:45:00.000Z to 2026-11-23T14:00:00.000Z (the window and the hour before it)']]);
      // …keeps that with the stored transition and publishes the alert enriched, hints attached.
      const later = calls.slice(before);
      const update = later.find((c) => c.target === 'DynamoDB_20120810.UpdateItem');
      assert.ok(update && JSON.parse(update.body).Key.pk.S === 'T#acme', JSON.stringify(later.map((c) => [c.target, c.body.slice(0, 120)])));
      const publish = later.filter((c) => c.target === undefined).map((c) => new URLSearchParams(c.body));
      assert.equal(publish.length, 1);
      assert.equal(publish[0].get('TopicArn'), 'arn:aws:sns:eu-west-1:123456789012:burnwatch-ci-alerts');
      const attrs = Object.fromEntries([...publish[0].keys()].filter((k) => /^MessageAttributes\.entry\.\d+\.Name$/.test(k)).map((k) => [publish[0].get(k), publish[0].get(k.replace(/Name$/, 'Value.StringValue'))]));
      assert.deepEqual([attrs.to, attrs.hints], ['firing', 'attached']);
      assert.deepEqual(JSON.parse(JSON.parse(publish[0].get('Message')!).lambda).hints, []);
    } finally {
      server.close();
    }
  });
});
