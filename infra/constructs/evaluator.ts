// The SLO evaluator: one function on an EventBridge schedule, every minute. It reads Timestream,
// reads the tenants from the API-keys secret, publishes alert transitions to the alert topic and
// its figures as EMF metrics (log lines: no PutMetricData permission needed). A missed run is
// not retried — the next minute evaluates everything again — neither by EventBridge nor by
// Lambda's own asynchronous-invoke retries (2, up to 6 h, by default, whatever the rule's retry
// policy says): a retried run carries an old time and would run beside newer ones. Its reserved
// concurrency keeps a flood of gateway requests from taking every execution the account has.

import { Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { Settings } from '../settings.ts';
import { metricsNamespace } from './alerting.ts';
import type { ApiKeys } from './api-keys.ts';
import { BurnwatchFunction } from './function.ts';
import type { Storage } from './storage.ts';

export class Evaluator extends Construct {
  readonly function: BurnwatchFunction;
  readonly schedule: events.Rule;

  constructor(scope: Construct, id: string, props: { settings: Settings; storage: Storage; apiKeys: ApiKeys; topic: sns.ITopic }) {
    super(scope, id);
    this.function = new BurnwatchFunction(this, 'Evaluate', {
      entry: 'evaluate',
      description: 'burnwatch SLO evaluator: SLIs, budgets, burn rates and alerts every minute',
      memorySize: 1024,
      timeout: Duration.seconds(55),
      retryAttempts: 0,
      // Lambda's minimum: an event that waited longer (throttled, queued) is dropped, not run late.
      maxEventAge: Duration.seconds(60),
      reservedConcurrentExecutions: props.settings.evaluatorReservedConcurrency,
      environment: {
        ...props.storage.environment(),
        BURNWATCH_ALERT_TOPIC_ARN: props.topic.topicArn,
        BURNWATCH_METRICS_NAMESPACE: metricsNamespace(props.settings.stage),
        BURNWATCH_STAGE: props.settings.stage,
      },
    });
    const role = this.function.role;
    props.storage.grantRead(role);
    props.storage.grantSloState(role, 'readwrite');
    this.function.fn.addEnvironment('BURNWATCH_API_KEYS_SECRET_ARN', props.apiKeys.grantRead(role).BURNWATCH_API_KEYS_SECRET_ARN);
    props.topic.grantPublish(role);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: 'Publishing to the KMS-encrypted alert topic needs kms:GenerateDataKey* (CDK grants it with Topic.grantPublish), on that one key only.',
    });
    this.schedule = new events.Rule(this, 'EveryMinute', {
      description: `burnwatch ${props.settings.stage}: evaluate SLOs`,
      schedule: events.Schedule.rate(Duration.minutes(1)),
      targets: [new targets.LambdaFunction(this.function.fn, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });
  }
}
