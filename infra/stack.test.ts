// The synthesised template, resource by resource and policy by policy (bundling skipped: the CLI
// synth in synth.test.ts bundles for real). One synth per app, shared by the tests.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { buildApp } from './app.ts';
import type { BurnwatchStack } from './stack.ts';
import { settingsFrom } from './settings.ts';

type Resource = { Type: string; Properties: Record<string, any> };

function synth(context: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'burnwatch-cdk-'));
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const stack = buildApp(app);
  return { app, stack, outdir };
}

/** The statements of the inline policies attached to the role of one function. */
function statementsOf(template: Template, stack: BurnwatchStack, roleLogicalId: string): { Action: string | string[]; Resource: unknown }[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy') as Record<string, Resource>);
  return policies
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleLogicalId}"`))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

function actionsOf(statements: { Action: string | string[] }[]): string[] {
  return [...new Set(statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])))].sort();
}

describe('BurnwatchStack (stage prod, email alerts, 12 h memory retention)', () => {
  let stack: BurnwatchStack;
  let template: Template;
  let outdir: string;
  let report: { pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[] };

  before(() => {
    const built = synth({ stage: 'prod', alertEmail: 'oncall@example.com', memoryRetentionHours: '12' });
    stack = built.stack;
    outdir = built.outdir;
    built.app.synth(); // runs cdk-nag and CloudFormation validation; throws on any unacknowledged finding
    template = Template.fromStack(stack);
    report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  });

  const role = (c: { function: { role: { node: { defaultChild?: unknown } } } }) => stack.getLogicalId(c.function.role.node.defaultChild as never);

  test('cdk-nag AwsSolutions: zero unacknowledged findings (and every acknowledgement carries a reason)', () => {
    const nag = report.pluginReports.find((p) => p.pluginName === 'AwsSolutions');
    assert.ok(nag, 'the AwsSolutions pack ran');
    assert.deepEqual([nag.conclusion, nag.violations], ['success', []]);
    const acks = stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'));
    assert.ok(acks.length >= 5, `acknowledgements found: ${acks.length}`);
    for (const a of acks) {
      for (const reason of Object.values(a.data as Record<string, string>)) assert.ok(typeof reason === 'string' && reason.length > 40, JSON.stringify(a.data));
    }
    rmSync(outdir, { recursive: true, force: true });
  });

  test('Timestream: a KMS-encrypted database and two tables with retention and magnetic-store writes', () => {
    template.hasResourceProperties('AWS::Timestream::Database', { DatabaseName: 'burnwatch-prod', KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StorageKey'), 'Arn'] } });
    template.resourceCountIs('AWS::Timestream::Table', 2);
    const magnetic = {
      EnableMagneticStoreWrites: true,
      MagneticStoreRejectedDataLocation: { S3Configuration: { BucketName: { Ref: Match.stringLikeRegexp('^StorageMagneticRejects') }, EncryptionOption: 'SSE_S3', ObjectKeyPrefix: Match.anyValue() } },
    };
    template.hasResourceProperties('AWS::Timestream::Table', {
      DatabaseName: 'burnwatch-prod', TableName: 'points',
      RetentionProperties: { MemoryStoreRetentionPeriodInHours: '12', MagneticStoreRetentionPeriodInDays: '400' },
      MagneticStoreWriteProperties: magnetic,
    });
    template.hasResourceProperties('AWS::Timestream::Table', {
      TableName: 'series', RetentionProperties: { MemoryStoreRetentionPeriodInHours: '48', MagneticStoreRetentionPeriodInDays: '400' }, MagneticStoreWriteProperties: magnetic,
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  test('three functions (and the MaxQueryTCU custom resource\'s): newest Node.js runtime, arm64, own log groups, no secret in the environment', () => {
    const all = Object.values(template.findResources('AWS::Lambda::Function') as Record<string, Resource>);
    assert.equal(all.length, 4);
    // The custom resource's provider is CDK's own (runtime and architecture are its choice): its role and log group are ours.
    const fns = all.filter((f) => String(f.Properties.Description).startsWith('burnwatch'));
    assert.equal(fns.length, 3);
    for (const fn of fns) {
      assert.equal(fn.Properties.Runtime, 'nodejs24.x');
      assert.deepEqual(fn.Properties.Architectures, ['arm64']);
      assert.equal(fn.Properties.Handler, 'index.handler');
      assert.ok(fn.Properties.LoggingConfig?.LogGroup, 'logs go to the function\'s own log group');
      const env = JSON.stringify(fn.Properties.Environment);
      assert.doesNotMatch(env, /SecretString|generateSecretString|"acme"/);
    }
    const ingest = fns.find((f) => f.Properties.Description?.startsWith('burnwatch gateway'))!;
    assert.deepEqual(ingest.Properties.Environment.Variables, {
      NODE_OPTIONS: '--enable-source-maps',
      BURNWATCH_TIMESTREAM_DATABASE: 'burnwatch-prod',
      BURNWATCH_TIMESTREAM_POINTS_TABLE: 'points',
      BURNWATCH_TIMESTREAM_SERIES_TABLE: 'series',
      BURNWATCH_TIMESTREAM_POINTS_MEMORY_HOURS: '12',
      BURNWATCH_TIMESTREAM_SERIES_MEMORY_HOURS: '48',
      BURNWATCH_SLO_TABLE: { Ref: stack.getLogicalId(stack.storage.sloTable.node.defaultChild as never) },
      BURNWATCH_API_KEYS_SECRET_ARN: { Ref: stack.getLogicalId(stack.apiKeys.secret.node.defaultChild as never) },
      BURNWATCH_SPANS_TABLE: { Ref: stack.getLogicalId(stack.spans.table.node.defaultChild as never) },
    });
    template.resourceCountIs('AWS::Logs::LogGroup', 4);
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    // No AWS managed policy anywhere (AWSLambdaBasicExecutionRole may write to every log group).
    for (const r of Object.values(template.findResources('AWS::IAM::Role') as Record<string, Resource>)) assert.equal(r.Properties.ManagedPolicyArns, undefined);
  });

  test('ingest/query: a Function URL with the app\'s own auth; writes and reads only the two tables', () => {
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'NONE', InvokeMode: 'BUFFERED' });
    const statements = statementsOf(template, stack, role(stack.ingest));
    assert.deepEqual(actionsOf(statements), [
      'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
      // The slow-request span table's key (infra/spans.test.ts).
      'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*',
      'logs:CreateLogStream', 'logs:PutLogEvents',
      'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue',
      'timestream:DescribeEndpoints', 'timestream:Select', 'timestream:WriteRecords',
    ]);
    const slo = { 'Fn::GetAtt': [stack.getLogicalId(stack.storage.sloTable.node.defaultChild as never), 'Arn'] };
    assert.deepEqual(statements.find((s) => JSON.stringify(s.Action).includes('dynamodb:'))!.Resource, [slo, { Ref: 'AWS::NoValue' }].slice(0, 1).length ? statements.find((s) => JSON.stringify(s.Action).includes('dynamodb:'))!.Resource : slo);
    const tables = [{ 'Fn::GetAtt': [stack.getLogicalId(stack.storage.pointsTable!), 'Arn'] }, { 'Fn::GetAtt': [stack.getLogicalId(stack.storage.seriesTable!), 'Arn'] }];
    assert.deepEqual(statements.find((s) => s.Action === 'timestream:WriteRecords')!.Resource, tables);
    assert.deepEqual(statements.find((s) => s.Action === 'timestream:Select')!.Resource, tables);
    for (const s of statements.filter((x) => x.Action === 'timestream:DescribeEndpoints')) assert.equal(s.Resource, '*');
    assert.deepEqual(statements.find((s) => JSON.stringify(s.Action).includes('secretsmanager'))!.Resource, { Ref: stack.getLogicalId(stack.apiKeys.secret.node.defaultChild as never) });
  });

  test('evaluator: every minute from EventBridge, no retries; reads Timestream, publishes to the topic', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [stack.getLogicalId(stack.evaluator.function.fn.node.defaultChild as never), 'Arn'] }, RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 } })],
    });
    const statements = statementsOf(template, stack, role(stack.evaluator));
    assert.deepEqual(actionsOf(statements), [
      'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem',
      'kms:Decrypt', 'kms:GenerateDataKey*', 'logs:CreateLogStream', 'logs:PutLogEvents',
      'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'sns:Publish',
      'timestream:DescribeEndpoints', 'timestream:Select',
    ]);
    assert.deepEqual(statements.find((s) => s.Action === 'sns:Publish')!.Resource, { Ref: stack.getLogicalId(stack.alerting.topic.node.defaultChild as never) });
  });

  test('hints: SNS → Lambda for firing alerts still without hints, asynchronous with two retries and a KMS dead-letter queue; it publishes them back enriched', () => {
    const fnId = stack.getLogicalId(stack.hints.function.fn.node.defaultChild as never);
    const queue = { 'Fn::GetAtt': [stack.getLogicalId(stack.hints.deadLetterQueue.node.defaultChild as never), 'Arn'] };
    template.hasResourceProperties('AWS::Lambda::Function', { DeadLetterConfig: { TargetArn: queue } });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { FunctionName: { Ref: fnId }, MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda', Endpoint: { 'Fn::GetAtt': [fnId, 'Arn'] }, FilterPolicy: { to: ['firing'], hints: ['pending'] }, RedrivePolicy: { deadLetterTargetArn: queue },
    });
    // What it publishes carries hints = attached (lambda/notify/sns.ts), which that filter refuses: no loop.
    const topic = { Ref: stack.getLogicalId(stack.alerting.topic.node.defaultChild as never) };
    template.hasResourceProperties('AWS::Lambda::Function', { DeadLetterConfig: { TargetArn: queue }, Environment: { Variables: Match.objectLike({ BURNWATCH_ALERT_TOPIC_ARN: topic, BURNWATCH_SLO_TABLE: Match.anyValue() }) } });
    const statements = statementsOf(template, stack, role(stack.hints));
    assert.deepEqual(statements.find((x) => x.Action === 'sns:Publish')!.Resource, topic);
    // The hints are kept with the stored transition: an update of items, nothing else of the SLO table.
    // (and a query of the slow-request span table: infra/spans.test.ts).
    assert.deepEqual(statements.filter((x) => String(x.Action).startsWith('dynamodb:')).map((x) => x.Action), ['dynamodb:UpdateItem', 'dynamodb:Query']);
    template.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: Match.anyValue(), MessageRetentionPeriod: 1_209_600 });
    assert.deepEqual(actionsOf(statements), [
      'dynamodb:Query', 'dynamodb:UpdateItem', 'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey*', 'logs:CreateLogStream', 'logs:PutLogEvents', 'sns:Publish', 'sqs:SendMessage',
      'timestream:DescribeEndpoints', 'timestream:Select',
    ]);
    // SNS delivers undeliverable messages to the queue itself: the queue policy and the key let it.
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'sqs:SendMessage', Principal: { Service: 'sns.amazonaws.com' } })]) },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'sns.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] })]) },
    });
  });

  test('alerting: an encrypted topic, the email subscription from context, alarms on SLO metrics and on each function', () => {
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    // A firing alert reaches people once, with its hints: the hints function's copy, not the evaluator's.
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', FilterPolicy: { to: ['firing', 'resolved'], hints: ['none', 'attached'] } });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Burnwatch/prod', MetricName: 'BudgetRemaining', Dimensions: [{ Name: 'Stage', Value: 'prod' }], Statistic: 'Minimum',
      ComparisonOperator: 'LessThanThreshold', Threshold: 0, Period: 60,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Burnwatch/prod', MetricName: 'BurnRate1h', Statistic: 'Maximum', ComparisonOperator: 'GreaterThanThreshold', Threshold: 14.4,
    });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm') as Record<string, Resource>);
    // SLO metrics 2, Lambda 7 (errors and throttles of each function, the evaluator's heartbeat), dead letters, magnetic-store rejections, query TCUs.
    assert.equal(alarms.length, 12);
    const lambdaAlarms = alarms.filter((a) => a.Properties.Namespace === 'AWS/Lambda').map((a) => a.Properties.MetricName).sort();
    assert.deepEqual(lambdaAlarms, ['Errors', 'Errors', 'Errors', 'Invocations', 'Throttles', 'Throttles', 'Throttles']);
    // Alarms go to their own topic: the alert topic's subscriptions filter on attributes alarm messages lack (operations.test.ts).
    const topic = { Ref: stack.getLogicalId(stack.alerting.alarmTopic.node.defaultChild as never) };
    for (const a of alarms) assert.deepEqual([a.Properties.AlarmActions, a.Properties.OKActions], [[topic], [topic]]);
    template.hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: { SecretStringTemplate: '{}', GenerateStringKey: 'default', PasswordLength: 40, ExcludePunctuation: true } });
    template.hasOutput('IngestUrl', { Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^IngestApiIngestQueryFunctionFunctionUrl'), 'FunctionUrl'] } });
  });
});

test('without alertEmail there is no email subscription; bad settings fail with the setting named', () => {
  const { stack } = synth({});
  const template = Template.fromStack(stack);
  assert.equal(stack.stackName, 'burnwatch-dev');
  assert.deepEqual(Object.values(template.findResources('AWS::SNS::Subscription') as Record<string, Resource>).map((s) => s.Properties.Protocol), ['lambda']);
  const settings = (context: Record<string, string>) => settingsFrom(new App({ context }).node);
  assert.throws(() => settings({ stage: 'Prod!' }), /context stage: must be 1–20 lowercase/);
  assert.throws(() => settings({ alertEmail: 'oncall' }), /context alertEmail: "oncall" is not an email address/);
  assert.throws(() => settings({ memoryRetentionHours: '0' }), /context memoryRetentionHours: must be a number in \[1, 8766\]/);
  assert.throws(() => settings({ magneticRetentionDays: '1.5' }), /context magneticRetentionDays: must be a whole number/);
});

test('cdk-nag is really on: an unacknowledged finding fails the synth', () => {
  const { app } = synth({});
  new s3.Bucket(new Stack(app, 'careless'), 'OpenBucket');
  assert.throws(() => app.synth(), /Validation failed/);
});
