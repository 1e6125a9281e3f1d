// The SLO state table in the synthesised stack: TTL on the attribute DynamoSloStore writes on
// stored alert transitions, so they do not pile up for ever.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { TTL_ATTRIBUTE } from '../lambda/aws/dynamodb-slo-store.ts';
import { buildApp } from './app.ts';

test('the SLO table expires stored transitions by TTL on the attribute the store writes', () => {
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'burnwatch-cdk-slo-')), context: { 'aws:cdk:bundling-stacks': [], stage: 'prod' } });
  const stack = buildApp(app);
  const table = Template.fromStack(stack).findResources('AWS::DynamoDB::Table')[stack.getLogicalId(stack.storage.sloTable.node.defaultChild as never)];
  assert.ok(table, 'the SLO table is in the stack');
  assert.equal(TTL_ATTRIBUTE, 'expires_at');
  assert.deepEqual(table.Properties.TimeToLiveSpecification, { AttributeName: TTL_ATTRIBUTE, Enabled: true });
});
