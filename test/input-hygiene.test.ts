// Input that names JavaScript's own object machinery (`__proto__`, `constructor`) or numbers
// beyond any clock: the gateway app on a real DuckDB store, through Hono's app.request.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createGatewayApp } from '../lambda/gateway/app.ts';
import { DuckDbStore } from '../lambda/storage/duckdb.ts';
import { ExportMetricsServiceRequest } from '../lambda/otlp/schema.ts';

const NOW = 1_795_000_000_000;
const KEY = 'input-hygiene-test-key';
const H = { authorization: `Bearer ${KEY}` };
let store: DuckDbStore;
let app: ReturnType<typeof createGatewayApp>;

const str = (key: string, v: string) => ({ key, value: { stringValue: v } });

/** One delta counter point of `value` for service `svc` with the given point attributes. */
function request(pointAttributes: { key: string; value: { stringValue: string } }[], value: number, resource = [str('service.name', 'svc')]) {
  return {
    resourceMetrics: [{
      resource: { attributes: resource },
      scopeMetrics: [{ metrics: [{ name: 'm', unit: '1', sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints: [{
        attributes: pointAttributes, startTimeUnixNano: String((NOW - 60_000) * 1e6), timeUnixNano: String((NOW - 30_000) * 1e6), asDouble: value,
      }] } }] }],
    }],
  };
}

async function query(params: string): Promise<{ status: number; body: any }> {
  const res = await app.request(`/v1/query?service=svc&metric=m&agg=count&${params}`, { headers: H });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  store = await DuckDbStore.open({ path: ':memory:' });
  app = createGatewayApp({ store, apiKeys: { [KEY]: 't' }, now: () => NOW, log: (m) => assert.fail(`the gateway logged a failure: ${m}`) });
  const json = JSON.stringify(request([str('__proto__', 'p1'), str('constructor', 'c1')], 3));
  const r1 = await app.request('/v1/metrics', { method: 'POST', headers: { ...H, 'content-type': 'application/json' }, body: json });
  assert.equal(r1.status, 200, await r1.text());
  // The same names through protobuf, on a resource attribute too.
  const pb = ExportMetricsServiceRequest.encode(ExportMetricsServiceRequest.fromObject(request([str('__proto__', 'p2')], 4, [str('service.name', 'svc'), str('constructor', 'res')]))).finish();
  const r2 = await app.request('/v1/metrics', { method: 'POST', headers: { ...H, 'content-type': 'application/x-protobuf' }, body: Buffer.from(pb) });
  assert.equal(r2.status, 200, await r2.text());
  const r3 = await app.request('/v1/metrics', { method: 'POST', headers: { ...H, 'content-type': 'application/json' }, body: JSON.stringify(request([], 5)) });
  assert.equal(r3.status, 200, await r3.text());
});

after(() => store?.close());

test('an attribute named __proto__ is stored and grouped by like any other', async () => {
  const r = await query('from=-5m&to=now&by=__proto__');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  // JSON.parse makes "__proto__" an own property, as the API's JSON answer does.
  assert.deepEqual(r.body.series.map((s: any) => [s.labels, s.points[0][1]]), [
    [{}, 5],
    [JSON.parse('{"__proto__":"p1"}'), 3],
    [JSON.parse('{"__proto__":"p2"}'), 4],
  ]);
});

test('by=constructor (and other Object.prototype names) finds only real attributes, point or resource', async () => {
  const r = await query('from=-5m&to=now&by=constructor');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.series.map((s: any) => [s.labels, s.points[0][1]]), [[{}, 5], [{ constructor: 'c1' }, 3], [{ constructor: 'res' }, 4]]);
  for (const name of ['hasOwnProperty', 'toString', 'valueOf']) {
    const other = await query(`from=-5m&to=now&by=${name}`);
    assert.deepEqual(other.body, { series: [{ labels: {}, points: [[NOW / 1000, 12]] }] }, name);
  }
});

test('OTLP/JSON keys that are Object.prototype names are unknown fields, ignored as the spec says', async () => {
  const body = '{"constructor":1,"toString":"x","__proto__":{"resourceMetrics":[]},"resourceMetrics":[]}';
  const res = await app.request('/v1/metrics', { method: 'POST', headers: { ...H, 'content-type': 'application/json' }, body });
  assert.equal(res.status, 200, await res.text());
});

test('times no clock holds are a 400 naming the parameter, never a 500', async () => {
  const cases: [string, string][] = [
    ['from=1e300&to=now', 'from'],
    ['from=-5m&to=1e309', 'to'],
    ['from=-5m&to=Infinity', 'to'],
    [`from=${'9'.repeat(400)}&to=now`, 'from'],
    ['from=-5m&to=9223372037', 'to'],
    [`from=-${'9'.repeat(400)}d&to=now`, 'from'],
    [`from=-5m&to=now&step=${'9'.repeat(400)}d`, 'step'],
  ];
  for (const [params, name] of cases) {
    const r = await query(params);
    assert.equal(r.status, 400, `${params}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, 'invalid_parameter', params);
    assert.match(r.body.error.message, new RegExp(`^${name}: `), params);
  }
  // The largest time that fits, and scientific notation for an ordinary one, still work (each
  // range under the query API's 32-day cap).
  assert.equal((await query('from=9223300000&to=9223372036')).status, 200);
  assert.equal((await query('from=1.7949e9&to=1.795e9')).status, 200);
});
