// The hints function: subscribed to the alert topic for firing alerts that still lack their
// hints (the `to` and `hints` message attributes SnsNotifier sets: firing, pending), so SNS
// invokes it asynchronously. It publishes each one back with its hints (hints = attached), which
// its own filter refuses: no loop. Failed invocations (after Lambda's two retries) and failed
// deliveries land in one encrypted dead-letter queue.

import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { Storage } from './storage.ts';
import { BurnwatchFunction } from './function.ts';

export class Hints extends Construct {
  readonly function: BurnwatchFunction;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: { storage: Storage; topic: sns.ITopic; key: kms.IKey }) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetters', {
      encryption: sqs.QueueEncryption.KMS,
      encryptionMasterKey: props.key,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is the dead-letter queue (of the hints function and its SNS subscription); a dead-letter queue of a dead-letter queue has nothing to catch.',
    });
    this.function = new BurnwatchFunction(this, 'Hints', {
      entry: 'hints',
      description: 'burnwatch root-cause hints for a firing alert',
      memorySize: 512,
      timeout: Duration.seconds(60),
      environment: { ...props.storage.environment(), BURNWATCH_ALERT_TOPIC_ARN: props.topic.topicArn },
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
    });
    // Lambda sends failed async events to the KMS-encrypted queue with the function's role (the
    // key grant that publishing to the encrypted topic needs covers it: kms:GenerateDataKey* and
    // kms:Decrypt on this key), and SNS sends undeliverable messages there itself — for this
    // stack's topics only: CloudFormation names them <stack name>-<logical id>-<suffix>, and the
    // topic's own ARN cannot be named here (the topic is encrypted with this key: a cycle).
    const stack = Stack.of(this);
    props.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('sns.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account }, ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'sns', resource: `${stack.stackName}-*`, arnFormat: ArnFormat.NO_RESOURCE_NAME }) } },
      }),
    );
    // The hints engine reads the incident and baseline windows; the hints are kept with the
    // stored transition and published with it.
    props.storage.grantRead(this.function.role);
    props.storage.grantSloState(this.function.role, 'attach');
    props.topic.grantPublish(this.function.role);
    Validations.of(this.function.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason: 'Publishing to the KMS-encrypted alert topic needs kms:GenerateDataKey* (CDK grants it with Topic.grantPublish), on that one key only.',
    });
    props.topic.addSubscription(
      new subs.LambdaSubscription(this.function.fn, {
        filterPolicy: {
          to: sns.SubscriptionFilter.stringFilter({ allowlist: ['firing'] }),
          hints: sns.SubscriptionFilter.stringFilter({ allowlist: ['pending'] }),
        },
        deadLetterQueue: this.deadLetterQueue,
      }),
    );
  }
}
