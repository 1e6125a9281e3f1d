// Where alerts go: one SNS topic (KMS-encrypted, TLS-only publishers) that the SLO engine's
// SnsNotifier publishes transitions to and CloudWatch alarms publish to, with an optional email
// subscription; and the alarms themselves — on the evaluator's EMF metrics (worst budget left,
// worst 1 h burn rate, per stage) and on every function's errors and throttles.

import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { EMF_METRICS } from '../../lambda/aws/emf.ts';
import type { Settings } from '../settings.ts';

export function metricsNamespace(stage: string): string {
  return `Burnwatch/${stage}`;
}

export class Alerting extends Construct {
  readonly topic: sns.Topic;
  private readonly action: actions.SnsAction;

  constructor(scope: Construct, id: string, private readonly settings: Settings, key: kms.IKey) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Topic', { displayName: `burnwatch ${settings.stage} alerts`, masterKey: key, enforceSSL: true });
    // CloudWatch alarms publish to the encrypted topic with the key.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
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
    }
    this.action = new actions.SnsAction(this.topic);

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

  private alarm(id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...props });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    return alarm;
  }
}
