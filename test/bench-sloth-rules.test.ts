// The Sloth-style rules the SLO peer benchmark loads into Prometheus (bench/sloth-rules.ts): they
// must load in Debian's `promtool check rules`, and page on an error burst under `promtool test
// rules` (Prometheus's own rule evaluator on synthetic series) — the benchmark's "time to a page"
// on Prometheus rests on both.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { alertName, slothRuleGroups, slothRulesYaml, sliWindows } from '../bench/sloth-rules.ts';
import { DEFAULT_SLI_METRICS, WORKBOOK_RULES, type SloDefinition } from '../lambda/slo/definitions.ts';
import { tempDir } from './lib/processes.ts';

const run = promisify(execFile);
const DAY = 86_400_000;

function slo(over: Partial<SloDefinition> = {}): SloDefinition {
  const service = over.service ?? `svc-${Math.random().toString(36).slice(2, 8)}`;
  return {
    id: `${service}:availability`,
    service,
    kind: 'availability',
    objective: 0.999,
    metrics: DEFAULT_SLI_METRICS,
    filter: {},
    window: { kind: 'rolling', ms: 30 * DAY },
    rules: WORKBOOK_RULES,
    source: 'default',
    ...over,
  };
}

test('the generated rules load in promtool check rules, one SLI rule per window, metadata and one alert per severity', async () => {
  const service = `checkout-${Math.random().toString(36).slice(2, 8)}`;
  const slos = [
    slo({ service }),
    slo({ service, id: `${service}:latency`, kind: 'latency', objective: 0.99, thresholdSeconds: 0.25, filter: { route: ['/pay', '/cart.json'], method: ['POST'] } }),
  ];
  const file = path.join(tempDir('bw-sloth-rules'), 'rules.yml');
  writeFileSync(file, slothRulesYaml(slos));
  const { stdout, stderr } = await run('promtool', ['check', 'rules', file]);
  // WORKBOOK_RULES: windows 5m, 30m, 1h, 6h, 3d (+ the 30d period) = 6 SLI rules, 7 metadata
  // rules, alerts for page and ticket = 15 a SLO.
  assert.deepEqual(sliWindows(slos[0]).map((ms) => ms / 60_000), [5, 30, 60, 360, 4320]);
  assert.match(stdout + stderr, /SUCCESS: 30 rules found/);
  const latency = slothRuleGroups(slos[1])[0].rules[0];
  assert.ok('record' in latency);
  assert.match(latency.expr, /le="0\.25"/);
  assert.match(latency.expr, /handler=~"\/pay\|\/cart\\\\\.json"/);
  assert.match(latency.expr, /method=~"POST"/);
});

test('a filter key promhttp has no label for is refused, naming it', () => {
  assert.throws(() => slothRuleGroups(slo({ filter: { 'net.peer.name': ['db'] } })), /filter key "net\.peer\.name"/);
});

test('under promtool test rules the page fires within minutes of a 50% error burst, and not before it', async () => {
  const s = slo();
  const dir = tempDir('bw-sloth-burst');
  writeFileSync(path.join(dir, 'rules.yml'), slothRulesYaml([s]));
  const labels = { sloth_id: `${s.service}-availability`, sloth_service: s.service, sloth_slo: 'availability', sloth_window: '5m' };
  const spec = {
    rule_files: ['rules.yml'],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          // 1,000 good requests a minute throughout; from minute 60 as many bad ones (50% errors).
          { series: `http_requests_total{service="${s.service}",code="200"}`, values: '0+1000x90' },
          { series: `http_requests_total{service="${s.service}",code="500"}`, values: '0x60 1000+1000x30' },
        ],
        alert_rule_test: [
          { eval_time: '60m', alertname: alertName(s), exp_alerts: [] },
          {
            eval_time: '64m',
            alertname: alertName(s),
            exp_alerts: [
              { exp_labels: { ...labels, sloth_severity: 'page' }, exp_annotations: { summary: `High error rate on '${s.service}' availability`, title: `(page) ${s.service} availability SLO error budget burn rate is too fast.` } },
              { exp_labels: { ...labels, sloth_window: '6h', sloth_severity: 'ticket' }, exp_annotations: { summary: `High error rate on '${s.service}' availability`, title: `(ticket) ${s.service} availability SLO error budget burn rate is too fast.` } },
            ],
          },
        ],
      },
    ],
  };
  writeFileSync(path.join(dir, 'test.yml'), stringify(spec));
  const result = await run('promtool', ['test', 'rules', 'test.yml'], { cwd: dir }).catch((err: { stdout: string; stderr: string }) => err);
  assert.match(result.stdout + result.stderr, /SUCCESS/, result.stdout + result.stderr);
});
