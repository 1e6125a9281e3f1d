// Where alerts go: the alert topic (KMS-encrypted, TLS-only publishers) that the SLO engine's
// SnsNotifier publishes transitions to, and a separate alarm topic for CloudWatch alarms, each
// with an optional email subscription. Two topics because the alert topic's subscriptions filter
// on message attributes (`to`, `hints`) that alarm messages never carry: an alarm published there
// matched no filter and reached nobody. Then the alarms themselves — on the evaluator's EMF
// metrics (worst budget left, worst 1 h burn rate, per stage), on every function's errors and
// throttles, on the evaluator stopping, on dead letters, on Timestream's asynchronous
// magnetic-store rejections and on its query compute (TCU) use.

import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EMF_METRICS } from '../../lambda/aws/emf.ts';
import type { Settings } from '../settings.ts';

export function metricsNamespace(stage: string): string {
  return `Burnwatch/${stage}`;
}

/** Timestream's account-level query compute in use (its docs call it QueryTCU), a usage metric. */
export const QUERY_TCU_METRIC = {
  namespace: 'AWS/Usage',
  metricName: 'ResourceCount',
  dimensionsMap: { Service: 'Timestream', Type: 'Resource', Resource: 'QueryTCU', Class: 'OnDemand' },
} as const;

export class Alerting extends Construct {
  /** SLO alert transitions (SnsNotifier), filtered per subscriber by message attributes. */
  readonly topic: sns.Topic;
  /** CloudWatch alarms: their messages carry no attributes, so nothing here filters on any. */
  readonly alarmTopic: sns.Topic;
  private readonly action: actions.SnsAction;

  constructor(scope: Construct, id: string, private readonly settings: Settings, key: kms.IKey) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { displayName: `burnwatch ${settings.stage} alerts`, masterKey: key, enforceSSL: true });
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: `burnwatch ${settings.stage} alarms`, masterKey: key, enforceSSL: true });
    // CloudWatch alarms publish to the encrypted alarm topic with the key: only alarms of this
    // account and region (CloudWatch passes both source keys; without them any account's alarm
    // could use the key through a topic of ours).
    const stack = Stack.of(this);
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
        },
      }),
    );
    if (settings.alertEmail) {
      // People get state changes that matter (firing, resolved) and alarms; not every pending,
      // and a firing alert once, with its hints (the hints function's copy, not the evaluator's).
      this.topic.addSubscription(
        new subs.EmailSubscription(settings.alertEmail, {
          filterPolicy: {
            to: sns.SubscriptionFilter.stringFilter({ allowlist: ['firing', 'resolved'] }),
            hints: sns.SubscriptionFilter.stringFilter({ allowlist: ['none', 'attached'] }),
          },
        }),
      );
      this.alarmTopic.addSubscription(new subs.EmailSubscription(settings.alertEmail));
    }
    this.action = new actions.SnsAction(this.alarmTopic);

    const metric = (name: string, statistic: string) =>
      new cloudwatch.Metric({ namespace: metricsNamespace(settings.stage), metricName: name, dimensionsMap: { Stage: settings.stage }, statistic, period: Duration.minutes(1) });
    this.alarm('BudgetAlarm', {
      metric: metric(EMF_METRICS.budgetRemaining, 'Minimum'),
      threshold: settings.budgetAlarmBelow,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      alarmDescription: `The lowest error budget remaining of any SLO (${settings.stage}) is below ${settings.budgetAlarmBelow}.`,
    });
    this.alarm('BurnRateAlarm', {
      metric: metric(EMF_METRICS.burnRate('1h'), 'Maximum'),
      threshold: settings.burnRateAlarmAbove,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
      alarmDescription: `Some SLO (${settings.stage}) burns its error budget faster than ${settings.burnRateAlarmAbove}x over 1 h.`,
    });
  }

  /** Errors and throttles of one function, each a 5-minute sum ≥ 1. */
  watchFunction(id: string, fn: lambda.IFunction): void {
    const period = Duration.minutes(5);
    this.alarm(`${id}Errors`, {
      metric: fn.metricErrors({ period, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `${id} (${this.settings.stage}) reported errors.`,
    });
    this.alarm(`${id}Throttles`, {
      metric: fn.metricThrottles({ period, statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `${id} (${this.settings.stage}) was throttled.`,
    });
  }

  /** The evaluator's heartbeat: a minute without an invocation is a missing datapoint, and five in a row mean it stopped. */
  watchHeartbeat(id: string, fn: lambda.IFunction): void {
    this.alarm(`${id}Heartbeat`, {
      metric: fn.metricInvocations({ period: Duration.minutes(1), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `${id} (${this.settings.stage}) has not run for 5 minutes: SLOs are not being evaluated and no alert can fire.`,
    });
  }

  /** Anything in a dead-letter queue is an event that was given up on. */
  watchDeadLetters(id: string, queue: sqs.IQueue): void {
    this.alarm(`${id}DeadLetters`, {
      metric: queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `${id} (${this.settings.stage}): messages in the dead-letter queue (failed events, kept 14 days).`,
    });
  }

  /**
   * Magnetic-store writes are accepted and rejected later, asynchronously: the only traces are
   * Timestream's per-table rejection counts and the reports it puts into the rejects bucket
   * (counted by the bucket's request metrics). Either one, or a report that could not be
   * uploaded, means points were lost.
   */
  watchMagneticRejections(database: string, tables: string[], bucket: s3.IBucket, bucketMetricsFilterId: string): void {
    const period = Duration.minutes(5);
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    tables.forEach((table, i) => {
      for (const [tag, metricName] of [['r', 'MagneticStoreRejectedRecordCount'], ['u', 'MagneticStoreRejectedUploadUserFailures'], ['s', 'MagneticStoreRejectedUploadSystemFailures']]) {
        usingMetrics[`${tag}${i}`] = new cloudwatch.Metric({ namespace: 'AWS/Timestream', metricName, dimensionsMap: { DatabaseName: database, TableName: table }, statistic: 'Sum', period });
      }
    });
    usingMetrics.reports = new cloudwatch.Metric({ namespace: 'AWS/S3', metricName: 'PutRequests', dimensionsMap: { BucketName: bucket.bucketName, FilterId: bucketMetricsFilterId }, statistic: 'Sum', period });
    this.alarm('MagneticStoreRejections', {
      metric: new cloudwatch.MathExpression({
        expression: Object.keys(usingMetrics).map((k) => `FILL(${k}, 0)`).join(' + '),
        usingMetrics,
        period,
        label: 'magnetic-store rejections and rejection reports',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `Timestream (${this.settings.stage}) rejected late points written to the magnetic store (reports in s3://<MagneticRejects bucket>/).`,
    });
  }

  /** Query compute above the expected level for 15 minutes in a row: the TCU-hour bill is growing past its floor. */
  watchQueryCompute(): void {
    this.alarm('QueryTcu', {
      metric: new cloudwatch.Metric({ ...QUERY_TCU_METRIC, statistic: 'Maximum', period: Duration.minutes(1) }),
      threshold: this.settings.queryTcuAlarmAbove,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 15,
      datapointsToAlarm: 15,
      alarmDescription: `Timestream queries (this account and region) used more than ${this.settings.queryTcuAlarmAbove} TCUs for 15 minutes: billed per TCU-hour.`,
    });
  }

  private alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...props });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    return alarm;
  }
}
