// What a real deployment needs from its first day (issue 17), read off the synthesised template:
// alarms that reach someone, an evaluator that is neither retried with an old time nor starved,
// a query-compute cap and an alarm on its use, alarms on what fails silently (magnetic-store
// rejections, dead letters, an evaluator that stopped), a partitioned points table, the least
// grants, source conditions on the key policy, and data kept in prod.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from './app.ts';
import { QUERY_TCU_METRIC } from './constructs/alerting.ts';
import { REJECT_REPORTS_METRICS_ID } from './constructs/storage.ts';
import { settingsFrom } from './settings.ts';
import type { BurnwatchStack } from './stack.ts';

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };

function synth(context: Record<string, string>): { stack: BurnwatchStack; template: Template; resources: Record<string, Resource> } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = buildApp(app);
  const template = Template.fromStack(stack);
  return { stack, template, resources: template.toJSON().Resources as Record<string, Resource> };
}

const idOf = (stack: BurnwatchStack, c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
const ofType = (resources: Record<string, Resource>, type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

/**
 * Whether an SNS subscription filter policy (attribute scope) lets through a message that
 * carries no message attributes, as a CloudWatch alarm notification does. Per SNS's filter
 * rules: no policy passes everything; a key passes an absent attribute only through an
 * `{"exists": false}` condition; keys are ANDed; `$or` passes if any branch passes.
 */
function passesWithoutAttributes(policy: Record<string, unknown> | undefined): boolean {
  if (policy === undefined) return true;
  return Object.entries(policy).every(([key, conditions]) => {
    if (key === '$or') return (conditions as Record<string, unknown>[]).some((branch) => passesWithoutAttributes(branch));
    return (conditions as unknown[]).some((c) => typeof c === 'object' && c !== null && (c as { exists?: unknown }).exists === false);
  });
}

describe('first day in production (stage prod, email alerts)', () => {
  let stack: BurnwatchStack;
  let template: Template;
  let resources: Record<string, Resource>;
  before(() => ({ stack, template, resources } = synth({ stage: 'prod', alertEmail: 'oncall@example.com' })));

  test('every alarm notifies a topic with an email subscription whose filter lets an attribute-less alarm message through', () => {
    const alarms = ofType(resources, 'AWS::CloudWatch::Alarm');
    const subscriptions = ofType(resources, 'AWS::SNS::Subscription').map(([, s]) => s.Properties);
    for (const [id, alarm] of alarms) {
      for (const actions of [alarm.Properties.AlarmActions, alarm.Properties.OKActions]) {
        assert.equal(actions.length, 1, id);
        const reached = subscriptions.filter((s) => JSON.stringify(s.TopicArn) === JSON.stringify(actions[0]) && s.Protocol === 'email' && passesWithoutAttributes(s.FilterPolicy));
        assert.deepEqual(reached.map((s) => s.Endpoint), ['oncall@example.com'], `${id}: no email subscription takes its notifications`);
      }
    }
    // The checker itself: the SLO alert topic's filtered subscriptions refuse an alarm message.
    for (const s of subscriptions.filter((x) => x.FilterPolicy)) assert.equal(passesWithoutAttributes(s.FilterPolicy), false, JSON.stringify(s.FilterPolicy));
    assert.equal(passesWithoutAttributes({ $or: [{ to: ['firing'] }, { to: [{ exists: false }] }] }), true);
    assert.ok(alarms.length >= 12, `alarms: ${alarms.length}`);
    template.hasOutput('AlarmTopicArn', { Value: { Ref: idOf(stack, stack.alerting.alarmTopic) } });
  });

  test('the evaluator: Lambda\'s own async retries off, a 60 s maximum event age, and reserved concurrency', () => {
    const fn = idOf(stack, stack.evaluator.function.fn);
    const configs = ofType(resources, 'AWS::Lambda::EventInvokeConfig').map(([, r]) => r.Properties).filter((p) => p.FunctionName.Ref === fn);
    assert.deepEqual(configs.map((p) => [p.MaximumRetryAttempts, p.MaximumEventAgeInSeconds]), [[0, 60]]);
    assert.equal(resources[fn].Properties.ReservedConcurrentExecutions, 2);
    const evaluatorNone = synth({ evaluatorReservedConcurrency: 'none' });
    assert.equal(evaluatorNone.resources[idOf(evaluatorNone.stack, evaluatorNone.stack.evaluator.function.fn)].Properties.ReservedConcurrentExecutions, undefined);
  });

  test('a heartbeat alarm breaches when the evaluator has not been invoked for 5 minutes (missing data = breaching)', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda', MetricName: 'Invocations', Dimensions: [{ Name: 'FunctionName', Value: { Ref: idOf(stack, stack.evaluator.function.fn) } }],
      Statistic: 'Sum', Period: 60, ComparisonOperator: 'LessThanThreshold', Threshold: 1, EvaluationPeriods: 5, DatapointsToAlarm: 5, TreatMissingData: 'breaching',
    });
  });

  test('an alarm on the hints dead-letter queue holding anything', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [idOf(stack, stack.hints.deadLetterQueue), 'QueueName'] } }],
      ComparisonOperator: 'GreaterThanOrEqualToThreshold', Threshold: 1,
    });
  });

  test('magnetic-store rejections alarm: Timestream\'s per-table counts and each report put into the rejects bucket', () => {
    const bucket = idOf(stack, stack.storage.rejectedBucket!);
    assert.deepEqual(resources[bucket].Properties.MetricsConfigurations, [{ Id: REJECT_REPORTS_METRICS_ID }]);
    const alarm = ofType(resources, 'AWS::CloudWatch::Alarm').map(([, r]) => r.Properties).find((p) => JSON.stringify(p.Metrics ?? []).includes('MagneticStoreRejectedRecordCount'));
    assert.ok(alarm, 'an alarm on MagneticStoreRejectedRecordCount');
    const metrics = (alarm.Metrics as { Id: string; Expression?: string; ReturnData?: boolean; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] }; Stat: string } }[]);
    const expression = metrics.find((m) => m.Expression)!;
    const inputs = metrics.filter((m) => m.MetricStat);
    // Every input counts in the sum, so any one of them alone fires the alarm.
    for (const m of inputs) assert.match(expression.Expression!, new RegExp(`FILL\\(${m.Id}, 0\\)`));
    const rejected = inputs.filter((m) => m.MetricStat!.Metric.MetricName === 'MagneticStoreRejectedRecordCount').map((m) => Object.fromEntries(m.MetricStat!.Metric.Dimensions.map((d) => [d.Name, d.Value])));
    assert.deepEqual(rejected, [{ DatabaseName: 'burnwatch-prod', TableName: 'points' }, { DatabaseName: 'burnwatch-prod', TableName: 'series' }]);
    const puts = inputs.find((m) => m.MetricStat!.Metric.Namespace === 'AWS/S3')!;
    assert.deepEqual([puts.MetricStat!.Metric.MetricName, puts.MetricStat!.Metric.Dimensions], ['PutRequests', [{ Name: 'BucketName', Value: { Ref: bucket } }, { Name: 'FilterId', Value: REJECT_REPORTS_METRICS_ID }]]);
    assert.deepEqual([alarm.ComparisonOperator, alarm.Threshold], ['GreaterThanOrEqualToThreshold', 1]);
  });

  test('MaxQueryTCU capped by a custom resource calling UpdateAccountSettings, least privilege; an alarm on TCU use', () => {
    const [[crId, cr]] = ofType(resources, 'Custom::AWS');
    for (const phase of ['Create', 'Update']) {
      assert.deepEqual(JSON.parse(cr.Properties[phase]), { service: '@aws-sdk/client-timestream-query', action: 'UpdateAccountSettings', parameters: { MaxQueryTCU: 8 }, physicalResourceId: { id: 'timestream-max-query-tcu' } }, phase);
    }
    assert.equal(cr.Properties.Delete, undefined, 'deleting the stack leaves the account setting alone');
    const provider = resources[cr.Properties.ServiceToken['Fn::GetAtt'][0]];
    const roleId = provider.Properties.Role['Fn::GetAtt'][0];
    const statements = ofType(resources, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }])).flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    assert.deepEqual(statements.map((s: { Action: unknown }) => s.Action), [['logs:CreateLogStream', 'logs:PutLogEvents'], ['timestream:UpdateAccountSettings', 'timestream:DescribeEndpoints']], crId);
    assert.equal(resources[roleId].Properties.ManagedPolicyArns, undefined);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: QUERY_TCU_METRIC.namespace, MetricName: 'ResourceCount',
      Dimensions: [{ Name: 'Class', Value: 'OnDemand' }, { Name: 'Resource', Value: 'QueryTCU' }, { Name: 'Service', Value: 'Timestream' }, { Name: 'Type', Value: 'Resource' }],
      Statistic: 'Maximum', Period: 60, ComparisonOperator: 'GreaterThanThreshold', Threshold: 4, EvaluationPeriods: 15,
    });
    const other = synth({ maxQueryTcu: '16', queryTcuAlarmAbove: '12' });
    assert.equal(JSON.parse(ofType(other.resources, 'Custom::AWS')[0][1].Properties.Create).parameters.MaxQueryTCU, 16);
    other.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ResourceCount', Threshold: 12 });
    assert.deepEqual(ofType(synth({ maxQueryTcu: 'account' }).resources, 'Custom::AWS'), []);
  });

  test('the points table is partitioned on a dimension every record carries (metric by default, REQUIRED)', () => {
    const points = resources[stack.getLogicalId(stack.storage.pointsTable!)];
    assert.deepEqual(points.Properties.Schema, { CompositePartitionKey: [{ Type: 'DIMENSION', Name: 'metric', EnforcementInRecord: 'REQUIRED' }] });
    const byTenant = synth({ pointsPartitionKey: 'tenant' });
    assert.deepEqual(byTenant.resources[byTenant.stack.getLogicalId(byTenant.stack.storage.pointsTable!)].Properties.Schema.CompositePartitionKey[0].Name, 'tenant');
    // A table created before: keeps Timestream's default, stated.
    const kept = synth({ pointsPartitionKey: 'measure_name' });
    assert.deepEqual(kept.resources[kept.stack.getLogicalId(kept.stack.storage.pointsTable!)].Properties.Schema, { CompositePartitionKey: [{ Type: 'MEASURE' }] });
  });

  test('the hints role: one KMS grant serves the encrypted topic and the dead-letter queue (no second, narrower one)', () => {
    const role = idOf(stack, stack.hints.function.role);
    const key = { 'Fn::GetAtt': [idOf(stack, stack.storage.key), 'Arn'] };
    const statements = ofType(resources, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${role}"`)).flatMap(([, p]) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    const onKey = statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(key)).map((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]).filter((a) => a.startsWith('kms:')));
    // Sending to the SSE-KMS queue needs kms:GenerateDataKey and kms:Decrypt: covered by publishing's kms:GenerateDataKey* and kms:Decrypt.
    assert.ok(onKey.some((actions) => actions.includes('kms:GenerateDataKey*') && actions.includes('kms:Decrypt')), JSON.stringify(onKey));
    assert.deepEqual(onKey.filter((actions) => actions.includes('kms:GenerateDataKey')), [], 'a separate kms:GenerateDataKey grant');
  });

  test('key policy: every grant to an AWS service is conditioned on this account and a source ARN', () => {
    const [[, key]] = ofType(resources, 'AWS::KMS::Key');
    const services = (key.Properties.KeyPolicy.Statement as { Principal: { Service?: string }; Condition?: Record<string, Record<string, unknown>> }[]).filter((s) => s.Principal.Service);
    assert.deepEqual(services.map((s) => s.Principal.Service).sort(), ['cloudwatch.amazonaws.com', 'sns.amazonaws.com']);
    const account = { Ref: 'AWS::AccountId' };
    for (const s of services) {
      assert.deepEqual(s.Condition?.StringEquals, { 'aws:SourceAccount': account }, s.Principal.Service);
      assert.ok(s.Condition?.ArnLike?.['aws:SourceArn'], `${s.Principal.Service}: aws:SourceArn`);
    }
    const arn = (s: (typeof services)[number]) => JSON.stringify(s.Condition!.ArnLike['aws:SourceArn']);
    assert.match(arn(services.find((s) => s.Principal.Service === 'cloudwatch.amazonaws.com')!), /:cloudwatch:.*:alarm:\*/);
    assert.match(arn(services.find((s) => s.Principal.Service === 'sns.amazonaws.com')!), /:sns:.*:burnwatch-prod-\*/);
  });

  test('prod keeps its data: RETAIN on the stores and the key secret, DynamoDB deletion protection; other stages do not', () => {
    const stores = (r: Record<string, Resource>) => Object.values(r).filter((x) => ['AWS::Timestream::Database', 'AWS::Timestream::Table', 'AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::SecretsManager::Secret'].includes(x.Type));
    assert.ok(stores(resources).length >= 6);
    for (const r of stores(resources)) assert.equal(r.DeletionPolicy, 'Retain', r.Type);
    template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
    const dev = synth({ stage: 'dev' });
    for (const r of stores(dev.resources)) assert.equal(r.DeletionPolicy, 'Delete', r.Type);
    assert.equal(Object.values(dev.resources).find((r) => r.Type === 'AWS::DynamoDB::Table')!.Properties.DeletionProtectionEnabled, false);
    // …unless asked.
    const protectedDev = synth({ stage: 'dev', protectData: 'true' });
    for (const r of stores(protectedDev.resources)) assert.equal(r.DeletionPolicy, 'Retain', r.Type);
  });
});

test('issue 17 settings: each bad value fails naming the setting and why', () => {
  const settings = (context: Record<string, string>) => settingsFrom(new App({ context }).node);
  assert.deepEqual(
    (({ evaluatorReservedConcurrency, protectData, pointsPartitionKey, maxQueryTcu, queryTcuAlarmAbove }) => ({ evaluatorReservedConcurrency, protectData, pointsPartitionKey, maxQueryTcu, queryTcuAlarmAbove }))(settings({})),
    { evaluatorReservedConcurrency: 2, protectData: false, pointsPartitionKey: 'metric', maxQueryTcu: 8, queryTcuAlarmAbove: 4 },
  );
  assert.equal(settings({ stage: 'prod' }).protectData, true);
  assert.equal(settings({ stage: 'prod', protectData: 'false' }).protectData, false);
  assert.throws(() => settings({ maxQueryTcu: '10' }), /context maxQueryTcu: must be a multiple of 4/);
  assert.throws(() => settings({ maxQueryTcu: '2000' }), /context maxQueryTcu: must be a number in \[4, 1000\]/);
  assert.throws(() => settings({ maxQueryTcu: '4' }), /context queryTcuAlarmAbove: must be below maxQueryTcu \(4\)/);
  assert.throws(() => settings({ pointsPartitionKey: 'series_id' }), /context pointsPartitionKey: must be one of metric, tenant, measure_name; got "series_id"/);
  assert.throws(() => settings({ protectData: 'yes' }), /context protectData: must be true or false/);
  assert.throws(() => settings({ evaluatorReservedConcurrency: '0' }), /context evaluatorReservedConcurrency: must be a number in \[1, 1000\]/);
});
