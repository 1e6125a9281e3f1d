// The slow-request span table in the synthesised stack: encrypted with the stack's key, a TTL,
// named to exactly the two functions that use it, with exactly the calls DynamoSpanStore makes.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ENV } from '../lambda/aws/env.ts';
import { SPAN_TTL_ATTRIBUTE } from '../lambda/aws/dynamodb-spans.ts';
import { buildApp } from './app.ts';
import { SPANS_TABLE_ENV } from './constructs/spans.ts';
import type { BurnwatchStack } from './stack.ts';

type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };
type Statement = { Action: string | string[]; Resource: unknown };

function synth(stage: string): { stack: BurnwatchStack; template: Template } {
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'burnwatch-cdk-spans-')), context: { 'aws:cdk:bundling-stacks': [], stage } });
  const stack = buildApp(app);
  return { stack, template: Template.fromStack(stack) };
}

describe('span table', () => {
  let prod: { stack: BurnwatchStack; template: Template };
  before(() => (prod = synth('prod')));

  const logicalId = (s: BurnwatchStack, c: { node: { defaultChild?: unknown } }) => s.getLogicalId(c.node.defaultChild as never);
  const statementsOf = (s: BurnwatchStack, t: Template, role: { node: { defaultChild?: unknown } }): Statement[] =>
    Object.values(t.findResources('AWS::IAM::Policy') as Record<string, Resource>)
      .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${logicalId(s, role)}"`))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
  const actions = (statements: Statement[]) => statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action])).sort();

  test('on-demand, keyed (pk, sk), the TTL attribute the store writes, the stack key, point-in-time recovery', () => {
    const { stack, template } = prod;
    const table = template.findResources('AWS::DynamoDB::Table')[logicalId(stack, stack.spans.table)] as Resource;
    assert.ok(table, 'the span table is in the stack');
    const p = table.Properties;
    assert.deepEqual(p.KeySchema, [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }]);
    assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: SPAN_TTL_ATTRIBUTE, Enabled: true });
    assert.deepEqual(p.SSESpecification, { KMSMasterKeyId: { 'Fn::GetAtt': [logicalId(stack, stack.storage.key), 'Arn'] }, SSEEnabled: true, SSEType: 'KMS' });
    assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    // stage prod protects its data: kept on stack deletion, and deletion refused.
    assert.equal(table.DeletionPolicy, 'Retain');
    assert.equal(p.DeletionProtectionEnabled, true);
  });

  test('outside prod the table goes with the stack', () => {
    const dev = synth('dev');
    const table = dev.template.findResources('AWS::DynamoDB::Table')[logicalId(dev.stack, dev.stack.spans.table)] as Resource;
    assert.equal(table.DeletionPolicy, 'Delete');
    assert.notEqual(table.Properties.DeletionProtectionEnabled, true);
  });

  test('the gateway puts and queries, the hints function queries, the evaluator has nothing; each is told the table name', () => {
    const { stack, template } = prod;
    const arn = { 'Fn::GetAtt': [logicalId(stack, stack.spans.table), 'Arn'] };
    const onTable = (statements: Statement[]) => statements.filter((st) => JSON.stringify(st.Resource).includes(JSON.stringify(arn)));
    assert.deepEqual(actions(onTable(statementsOf(stack, template, stack.ingest.function.role))), ['dynamodb:PutItem', 'dynamodb:Query']);
    assert.deepEqual(actions(onTable(statementsOf(stack, template, stack.hints.function.role))), ['dynamodb:Query']);
    assert.deepEqual(onTable(statementsOf(stack, template, stack.evaluator.function.role)), []);
    // The key: the gateway encrypts and decrypts through DynamoDB, the hints function decrypts.
    const key = { 'Fn::GetAtt': [logicalId(stack, stack.storage.key), 'Arn'] };
    const onKey = (statements: Statement[]) => new Set(actions(statements.filter((st) => JSON.stringify(st.Resource) === JSON.stringify(key))));
    for (const a of ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey*']) assert.ok(onKey(statementsOf(stack, template, stack.ingest.function.role)).has(a), a);
    for (const a of ['kms:Decrypt', 'kms:DescribeKey']) assert.ok(onKey(statementsOf(stack, template, stack.hints.function.role)).has(a), a);

    assert.equal(SPANS_TABLE_ENV, ENV.spansTable);
    const variables = (fn: { node: { defaultChild?: unknown } }) => (template.findResources('AWS::Lambda::Function')[logicalId(stack, fn)] as Resource).Properties.Environment.Variables;
    assert.deepEqual(variables(stack.ingest.function.fn)[ENV.spansTable], { Ref: logicalId(stack, stack.spans.table) });
    assert.deepEqual(variables(stack.hints.function.fn)[ENV.spansTable], { Ref: logicalId(stack, stack.spans.table) });
    assert.equal(variables(stack.evaluator.function.fn)[ENV.spansTable], undefined);
  });
});
