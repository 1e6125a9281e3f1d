// The burnwatch backend on AWS, one stack per stage: storage, API keys, alerting, the ingest/query
// function, the evaluator and the hints function.

import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { Settings } from './settings.ts';
import { Alerting } from './constructs/alerting.ts';
import { ApiKeys } from './constructs/api-keys.ts';
import { Evaluator } from './constructs/evaluator.ts';
import { Hints } from './constructs/hints.ts';
import { IngestApi } from './constructs/ingest-api.ts';
import { SpanStorage } from './constructs/spans.ts';
import { QueryComputeCap } from './constructs/query-compute.ts';
import { REJECT_REPORTS_METRICS_ID, Storage } from './constructs/storage.ts';

export class BurnwatchStack extends Stack {
  readonly storage: Storage;
  readonly apiKeys: ApiKeys;
  readonly alerting: Alerting;
  readonly ingest: IngestApi;
  readonly evaluator: Evaluator;
  readonly hints: Hints;
  readonly spans: SpanStorage;
  readonly queryComputeCap?: QueryComputeCap;

  constructor(scope: Construct, id: string, settings: Settings, props?: StackProps) {
    super(scope, id, { description: `burnwatch backend (${settings.stage}): SLOs and burn-rate alerts over ${settings.storage === 'amp' ? 'Amazon Managed Service for Prometheus' : 'Timestream'}`, ...props });
    this.storage = new Storage(this, 'Storage', settings);
    this.apiKeys = new ApiKeys(this, 'ApiKeys', settings);
    this.alerting = new Alerting(this, 'Alerting', settings, this.storage.key);
    this.ingest = new IngestApi(this, 'IngestApi', { settings, storage: this.storage, apiKeys: this.apiKeys });
    this.evaluator = new Evaluator(this, 'Evaluator', { settings, storage: this.storage, apiKeys: this.apiKeys, topic: this.alerting.topic });
    this.hints = new Hints(this, 'Hints', { storage: this.storage, topic: this.alerting.topic, key: this.storage.key });
    // Slow-request spans: the gateway stores and serves them, the hints function reads them.
    this.spans = new SpanStorage(this, 'Spans', { key: this.storage.key, protectData: settings.protectData });
    this.spans.grantReadWrite(this.ingest.function.role);
    this.spans.grantRead(this.hints.function.role);
    for (const [name, value] of Object.entries(this.spans.environment())) {
      this.ingest.function.fn.addEnvironment(name, value);
      this.hints.function.fn.addEnvironment(name, value);
    }
    this.alerting.watchFunction('IngestQuery', this.ingest.function.fn);
    this.alerting.watchFunction('Evaluate', this.evaluator.function.fn);
    this.alerting.watchFunction('Hints', this.hints.function.fn);
    this.alerting.watchHeartbeat('Evaluate', this.evaluator.function.fn);
    this.alerting.watchDeadLetters('Hints', this.hints.deadLetterQueue);
    // Magnetic-store rejections and query compute are Timestream's alone (not with storage=amp).
    if (this.storage.rejectedBucket) {
      this.alerting.watchMagneticRejections(this.storage.databaseName, this.storage.tableNames, this.storage.rejectedBucket, REJECT_REPORTS_METRICS_ID);
      this.alerting.watchQueryCompute();
      if (settings.maxQueryTcu !== undefined) this.queryComputeCap = new QueryComputeCap(this, 'QueryComputeCap', { maxQueryTcu: settings.maxQueryTcu });
    }
    new CfnOutput(this, 'ApiKeysSecretArn', { value: this.apiKeys.secret.secretArn, description: 'aws secretsmanager get-secret-value --secret-id <this> gives the API key(s)' });
    new CfnOutput(this, 'AlertTopicArn', { value: this.alerting.topic.topicArn });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alerting.alarmTopic.topicArn, description: 'CloudWatch alarms (subscribe people or a pager here)' });
    if (this.storage.amp) {
      new CfnOutput(this, 'AmpWorkspaceId', { value: this.storage.amp.workspace.attrWorkspaceId });
      new CfnOutput(this, 'AmpPrometheusEndpoint', { value: this.storage.amp.workspace.attrPrometheusEndpoint, description: 'PromQL and remote write (SigV4, service aps) for other tools' });
    } else {
      new CfnOutput(this, 'TimestreamDatabase', { value: this.storage.databaseName });
    }
    new CfnOutput(this, 'HintsDeadLetterQueueUrl', { value: this.hints.deadLetterQueue.queueUrl });
  }
}
