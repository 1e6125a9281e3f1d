// The account's Timestream query compute cap (MaxQueryTCU). Accounts onboarded since 2024-04-29 pay
// queries per TCU-hour, and the default cap is 200 TCUs: one runaway query loop could bill 200
// TCU-hours an hour. CloudFormation has no resource for account settings, so a custom resource
// calls Timestream Query's UpdateAccountSettings on create and update.
//
// It is an account-wide, per-region setting: it also caps any other Timestream workload in the
// account, and deleting the stack leaves it as set (there is no "previous value" to restore that
// another workload may not have changed since). The pricing model is never touched: moving to
// COMPUTE_UNITS is irreversible and the account owner's decision.

import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsCustomResource, PhysicalResourceId } from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

export class QueryComputeCap extends Construct {
  readonly resource: AwsCustomResource;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: { maxQueryTcu: number }) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    // A role of our own: the default one carries AWSLambdaBasicExecutionRole (every log group).
    this.role = new iam.Role(this, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: 'burnwatch: sets Timestream MaxQueryTCU' });
    logGroup.grantWrite(this.role);
    const call = {
      service: '@aws-sdk/client-timestream-query',
      action: 'UpdateAccountSettings',
      parameters: { MaxQueryTCU: props.maxQueryTcu },
      // One physical id per value: changing the cap is an update, not a replacement.
      physicalResourceId: PhysicalResourceId.of('timestream-max-query-tcu'),
    };
    this.resource = new AwsCustomResource(this, 'Resource', {
      onCreate: call,
      onUpdate: call,
      role: this.role,
      logGroup,
      timeout: Duration.minutes(2),
      // The runtime's SDK has UpdateAccountSettings; installing another needs internet from the function.
      installLatestAwsSdk: false,
      policy: {
        statements: [
          // Account-level calls: Timestream's IAM reference lists no resource type for either
          // (DescribeEndpoints is the SDK's endpoint discovery, made before the call).
          new iam.PolicyStatement({ actions: ['timestream:UpdateAccountSettings', 'timestream:DescribeEndpoints'], resources: ['*'] }),
        ],
      },
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'timestream:UpdateAccountSettings and timestream:DescribeEndpoints act on the account, not on a resource: Timestream supports no resource-level scoping for them.',
    });
  }
}
