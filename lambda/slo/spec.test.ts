import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSpecDir, parseSpecText } from './spec.ts';
import { DEFAULT_SLI_METRICS, WORKBOOK_RULES } from './definitions.ts';

const AVAILABILITY = `
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
spec:
  service: checkout
  indicator:
    metadata: { name: checkout-errors }
    spec:
      ratioMetric:
        counter: true
        bad: { metricSource: { type: burnwatch } }
        total:
          metricSource:
            type: burnwatch
            spec:
              filter: { route: /api/checkout, method: [GET, POST] }
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: good
      targetPercent: 99.5
`;

const LATENCY = `
apiVersion: openslo/v1
kind: SLO
metadata: { name: search-latency }
spec:
  service: search
  indicator:
    spec:
      thresholdMetric:
        metricSource: { type: burnwatch, spec: { metrics: [http.server.request.duration] } }
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar: { startTime: "2026-01-01 00:00:00", timeZone: UTC }
  objectives:
    - op: lte
      value: 250ms
      target: 0.95
  alertPolicies:
    - kind: AlertPolicy
      metadata: { name: fast }
      spec:
        conditions:
          - kind: AlertCondition
            metadata: { name: fast-page }
            spec:
              severity: page
              condition: { kind: burnrate, op: gt, threshold: 10, lookbackWindow: 2h, alertAfter: 2m }
          - spec:
              severity: ticket
              condition: { kind: burnrate, threshold: 2, lookbackWindow: 1d, shortWindow: 1h }
`;

test('an availability SLO: ratioMetric with a filter, a 28-day rolling window, the Workbook rules by default', () => {
  const { slos, errors } = parseSpecText(AVAILABILITY, 'a.yaml', 'file');
  assert.deepEqual(errors, []);
  assert.deepEqual(slos, [
    {
      id: 'checkout-availability',
      service: 'checkout',
      kind: 'availability',
      objective: 0.995,
      metrics: DEFAULT_SLI_METRICS,
      filter: { route: ['/api/checkout'], method: ['GET', 'POST'] },
      window: { kind: 'rolling', ms: 28 * 86_400_000 },
      rules: WORKBOOK_RULES,
      displayName: 'Checkout availability',
      source: 'file',
      file: 'a.yaml',
    },
  ]);
});

test('a latency SLO: thresholdMetric, calendar month, inline alert policies (short window defaults to 1/12)', () => {
  const { slos, errors } = parseSpecText(LATENCY, 'l.yaml', 'api');
  assert.deepEqual(errors, []);
  const [slo] = slos;
  assert.equal(slo.kind, 'latency');
  assert.equal(slo.thresholdSeconds, 0.25);
  assert.equal(slo.objective, 0.95);
  assert.deepEqual(slo.window, { kind: 'calendar-month' });
  assert.deepEqual(slo.metrics, ['http.server.request.duration']);
  assert.deepEqual(slo.rules, [
    { name: 'fast-page', severity: 'page', factor: 10, longMs: 7_200_000, shortMs: 600_000, forMs: 120_000 },
    { name: 'ticket-1d-1h', severity: 'ticket', factor: 2, longMs: 86_400_000, shortMs: 3_600_000, forMs: 0 },
  ]);
});

test('JSON works as well as YAML', () => {
  const doc = {
    apiVersion: 'openslo/v1',
    kind: 'SLO',
    metadata: { name: 'j' },
    spec: { service: 's', indicator: { spec: { ratioMetric: { good: { metricSource: { type: 'burnwatch' } }, total: { metricSource: { type: 'burnwatch' } } } } }, objectives: [{ target: 0.99 }] },
  };
  const { slos, errors } = parseSpecText(JSON.stringify(doc), 'j.json', 'api');
  assert.deepEqual(errors, []);
  assert.equal(slos[0].objective, 0.99);
  assert.equal(slos[0].kind, 'availability');
  // A list of documents; the bad one is named by its index.
  const two = parseSpecText(JSON.stringify([doc, { ...doc, metadata: { name: 'k' }, kind: 'Service' }]), 'l.json', 'api');
  assert.deepEqual(two.slos.map((s) => s.id), ['j']);
  assert.deepEqual(two.errors.map((e) => e.path), ['[1].kind']);
});

test('invalid specs are rejected with the file, the path in the document and the reason', () => {
  const cases: [string, string, RegExp][] = [
    [AVAILABILITY.replace('targetPercent: 99.5', 'targetPercent: 100'), 'spec.objectives[0].targetPercent', /\(0, 100\)/],
    [AVAILABILITY.replace('openslo/v1', 'openslo/v2alpha'), 'apiVersion', /openslo\/v1/],
    [AVAILABILITY.replace('name: checkout-availability', 'name: Checkout_Availability'), 'metadata.name', /RFC 1123/],
    [AVAILABILITY.replace('duration: 28d', 'duration: 28 days'), 'spec.timeWindow[0].duration', /invalid duration/],
    [AVAILABILITY.replace('budgetingMethod: Occurrences', 'budgetingMethod: Timeslices'), 'spec.budgetingMethod', /Occurrences/],
    [AVAILABILITY.replace('type: burnwatch\n', 'type: prometheus\n'), 'spec.indicator.spec.ratioMetric.total.metricSource.type', /burnwatch/],
    [AVAILABILITY.replace('  service: checkout\n', ''), 'spec.service', /non-empty string/],
    [LATENCY.replace('op: lte', 'op: gte'), 'spec.objectives[0].op', /lte/],
    [LATENCY.replace('timeZone: UTC', 'timeZone: Europe/Berlin'), 'spec.timeWindow[0].calendar.timeZone', /UTC/],
    [LATENCY.replace('threshold: 10', 'threshold: -1'), 'spec.alertPolicies[0].spec.conditions[0].spec.condition.threshold', /positive/],
    [LATENCY.replace('severity: ticket', 'severity: sms'), 'spec.alertPolicies[0].spec.conditions[1].spec.severity', /page/],
    [AVAILABILITY.replace('  budgetingMethod', '  colour: blue\n  budgetingMethod'), 'spec.colour', /not supported/],
    ['apiVersion: openslo/v1\nkind: SLO\nmetadata: [unclosed', '(document)', /YAML/],
  ];
  for (const [text, path, reason] of cases) {
    const { slos, errors } = parseSpecText(text, 'bad.yaml', 'file');
    assert.equal(slos.length, 0, `${path} should be rejected`);
    assert.equal(errors.length, 1, `${path}: ${errors.map((e) => e.message).join('; ')}`);
    assert.equal(errors[0].file, 'bad.yaml');
    assert.equal(errors[0].path, path);
    assert.match(errors[0].reason, reason);
  }
});

test('a directory: a bad file (or document) never disables the good ones; a defaults document applies to all', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-slo-spec-'));
  fs.writeFileSync(path.join(dir, '00-defaults.yaml'), `
apiVersion: burnwatch/v1
kind: SLODefaults
spec:
  availability: { target: 0.995 }
  latency: { enabled: false }
  timeWindow: [{ duration: 7d, isRolling: true }]
`);
  fs.writeFileSync(path.join(dir, 'checkout.yaml'), AVAILABILITY);
  fs.writeFileSync(path.join(dir, 'broken.yaml'), AVAILABILITY.replace('checkout-availability', 'broken-one').replace('targetPercent: 99.5', 'targetPercent: high'));
  fs.writeFileSync(path.join(dir, 'two.yaml'), `${LATENCY}\n---\n${AVAILABILITY.replace('checkout-availability', 'second').replace(/ {2}objectives:[^]*$/, '  objectives: []\n')}`);
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a spec');
  const { slos, errors, defaults } = loadSpecDir(dir);
  assert.deepEqual(slos.map((s) => s.id).sort(), ['checkout-availability', 'search-latency']);
  assert.deepEqual(errors.map((e) => [path.basename(e.file), e.path]).sort(), [
    ['broken.yaml', 'spec.objectives[0].targetPercent'],
    ['two.yaml', '[1].spec.objectives'],
  ]);
  assert.equal(defaults?.availability?.objective, 0.995);
  assert.equal(defaults?.latency, null);
  assert.deepEqual(defaults?.window, { kind: 'rolling', ms: 7 * 86_400_000 });
});

test('filter keys named like Object.prototype members are attributes like any other', () => {
  const text = AVAILABILITY.replace('filter: { route: /api/checkout, method: [GET, POST] }', 'filter: { "__proto__": x, constructor: y }');
  const { slos, errors } = parseSpecText(text, 'f.yaml', 'file');
  assert.deepEqual(errors, []);
  assert.deepEqual(Object.keys(slos[0].filter).sort(), ['__proto__', 'constructor']);
  assert.deepEqual(slos[0].filter['__proto__'], ['x']);
  assert.deepEqual(slos[0].filter.constructor, ['y']);
});
