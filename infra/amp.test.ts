// `-c storage=amp`: the template for accounts without Timestream — an AMP workspace instead of the
// Timestream database, grants on it for exactly the functions that write or read, the endpoint in
// their environment — and `storage=timestream` (the default) left as it was. Bundling skipped.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from './app.ts';
import { settingsFrom } from './settings.ts';
import type { BurnwatchStack } from './stack.ts';

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };
type Statement = { Action: string | string[]; Resource: unknown };

function synth(context: Record<string, string>) {
  const outdir = mkdtempSync(join(tmpdir(), 'burnwatch-cdk-amp-'));
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = buildApp(app);
  return { app, stack, outdir };
}

const logicalId = (stack: BurnwatchStack, c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);

/** aps:* actions per role logical id, and the resources they are granted on. */
function apsGrants(template: Template): { byRole: Record<string, string[]>; resources: unknown[] } {
  const byRole: Record<string, string[]> = {};
  const resources: unknown[] = [];
  for (const p of Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>)) {
    const statements = p.Properties.PolicyDocument.Statement as Statement[];
    for (const s of statements) {
      const actions = (Array.isArray(s.Action) ? s.Action : [s.Action]).filter((a) => a.startsWith('aps:'));
      if (actions.length === 0) continue;
      resources.push(s.Resource);
      for (const r of p.Properties.Roles as { Ref: string }[]) byRole[r.Ref] = [...(byRole[r.Ref] ?? []), ...actions].sort();
    }
  }
  return { byRole, resources };
}

/** The three burnwatch functions (custom-resource handlers have no SLO table in their environment). */
function burnwatchFunctions(template: Template): Resource[] {
  return Object.values(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).filter((f) => f.Properties.Environment?.Variables?.BURNWATCH_SLO_TABLE);
}

describe('BurnwatchStack with -c storage=amp (stage prod)', () => {
  let stack: BurnwatchStack;
  let template: Template;
  let json: string;
  let report: { pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[] };

  before(() => {
    const built = synth({ stage: 'prod', storage: 'amp', alertEmail: 'oncall@example.com' });
    stack = built.stack;
    built.app.synth(); // cdk-nag and CloudFormation validation: throws on any unacknowledged finding
    template = Template.fromStack(stack);
    json = JSON.stringify(template.toJSON());
    report = JSON.parse(readFileSync(join(built.outdir, 'validation-report.json'), 'utf8'));
    rmSync(built.outdir, { recursive: true, force: true });
  });

  test('cdk-nag AwsSolutions: zero unacknowledged findings', () => {
    const nag = report.pluginReports.find((p) => p.pluginName === 'AwsSolutions');
    assert.ok(nag, 'the AwsSolutions pack ran');
    assert.deepEqual([nag.conclusion, nag.violations], ['success', []]);
  });

  test('one AMP workspace with the retention and out-of-order window from context; no Timestream anywhere', () => {
    template.resourceCountIs('AWS::APS::Workspace', 1);
    template.hasResourceProperties('AWS::APS::Workspace', {
      Alias: 'burnwatch-prod',
      WorkspaceConfiguration: { RetentionPeriodInDays: 150, OutOfOrderTimeWindowInSeconds: 600 },
    });
    const types = Object.values(template.toJSON().Resources as Record<string, Resource>).map((r) => r.Type);
    assert.deepEqual(types.filter((t) => t.startsWith('AWS::Timestream::')), []);
    // No grant, metric, alarm, variable or output of Timestream either.
    assert.doesNotMatch(json, /timestream:|AWS\/Timestream|"Service":"Timestream"|BURNWATCH_TIMESTREAM_|TimestreamDatabase/);
    assert.ok(!types.includes('AWS::S3::Bucket'), 'no magnetic-rejects bucket');
    assert.ok(template.toJSON().Resources[logicalId(stack, stack.storage.sloTable)], 'the SLO state table stays');
  });

  test('the workspace is kept on stack deletion where data is protected (stage prod)', () => {
    const ws = Object.values(template.findResources('AWS::APS::Workspace') as Record<string, Resource>)[0]!;
    assert.equal(ws.DeletionPolicy, 'Retain');
  });

  test('grants: aps:RemoteWrite to the gateway only; aps:QueryMetrics and aps:GetSeries to the gateway, evaluator and hints; on the workspace only', () => {
    const { byRole, resources } = apsGrants(template);
    const role = (c: { function: { role: { node: { defaultChild?: unknown } } } }) => logicalId(stack, c.function.role);
    assert.deepEqual(byRole, {
      [role(stack.ingest)]: ['aps:GetSeries', 'aps:QueryMetrics', 'aps:RemoteWrite'],
      [role(stack.evaluator)]: ['aps:GetSeries', 'aps:QueryMetrics'],
      [role(stack.hints)]: ['aps:GetSeries', 'aps:QueryMetrics'],
    });
    const ws = { 'Fn::GetAtt': [stack.getLogicalId(stack.storage.amp!.workspace), 'Arn'] };
    for (const r of resources) assert.deepEqual(r, ws);
  });

  test('every function is told the store and the workspace endpoint, and nothing of Timestream', () => {
    const fns = burnwatchFunctions(template);
    assert.equal(fns.length, 3);
    const endpoint = { 'Fn::GetAtt': [stack.getLogicalId(stack.storage.amp!.workspace), 'PrometheusEndpoint'] };
    for (const f of fns) {
      const vars = f.Properties.Environment.Variables as Record<string, unknown>;
      assert.equal(vars.BURNWATCH_STORAGE, 'amp');
      assert.deepEqual(vars.BURNWATCH_AMP_ENDPOINT, endpoint);
      assert.deepEqual(Object.keys(vars).filter((k) => k.startsWith('BURNWATCH_TIMESTREAM_')), []);
    }
  });

  test('outputs: the workspace id and endpoint instead of the Timestream database', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    assert.deepEqual(outputs.AmpWorkspaceId?.Value, { 'Fn::GetAtt': [stack.getLogicalId(stack.storage.amp!.workspace), 'WorkspaceId'] });
    assert.deepEqual(outputs.AmpPrometheusEndpoint?.Value, { 'Fn::GetAtt': [stack.getLogicalId(stack.storage.amp!.workspace), 'PrometheusEndpoint'] });
    assert.equal(outputs.TimestreamDatabase, undefined);
  });
});

test('storage=timestream is the default: Timestream tables, no workspace, no aps grant, no BURNWATCH_STORAGE; the workspace of a dev stage is deleted with it', () => {
  for (const context of [{}, { storage: 'timestream' }] as Record<string, string>[]) {
    const { stack } = synth(context);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::APS::Workspace', 0);
    template.resourceCountIs('AWS::Timestream::Table', 2);
    assert.deepEqual(apsGrants(template).byRole, {});
    assert.equal(stack.storage.amp, undefined);
    for (const f of burnwatchFunctions(template)) assert.equal(f.Properties.Environment.Variables.BURNWATCH_STORAGE, undefined);
  }
  const dev = Template.fromStack(synth({ storage: 'amp' }).stack);
  assert.equal(Object.values(dev.findResources('AWS::APS::Workspace') as Record<string, Resource>)[0]!.DeletionPolicy, 'Delete');
});

test('bad storage settings fail the synth with the setting named', () => {
  const settings = (context: Record<string, string>) => settingsFrom(new App({ context }).node);
  assert.throws(() => settings({ storage: 'influxdb' }), /context storage: must be one of timestream, amp; got "influxdb"/);
  assert.throws(() => settings({ storage: 'amp', ampOutOfOrderSeconds: '601' }), /context ampOutOfOrderSeconds: must be a number in \[0, 600\]/);
  assert.throws(() => settings({ storage: 'amp', ampRetentionDays: '0' }), /context ampRetentionDays: must be a number in \[1, 1095\]/);
  assert.equal(settings({ storage: 'amp', ampOutOfOrderSeconds: '0' }).ampOutOfOrderSeconds, 0);
});
