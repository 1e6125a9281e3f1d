// The slow-request spans on AWS (lambda/aws/dynamodb-spans.ts): one on-demand DynamoDB table,
// encrypted with the stack's customer-managed key like the Timestream database, items expiring
// through the table's TTL. The gateway writes and reads it (POST /v1/traces, GET /v1/slow, the
// hints of GET /v1/hints); the hints function reads it; nothing else is granted anything.

import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { SPAN_TTL_ATTRIBUTE } from '../../lambda/aws/dynamodb-spans.ts';

/** lambda/aws/env.ts reads the table name from this variable. */
export const SPANS_TABLE_ENV = 'BURNWATCH_SPANS_TABLE';

// DynamoDB needs the caller's rights on the table's key (CDK's Table.grantReadData/grantWriteData
// grant these same ones); the table actions are exactly those DynamoSpanStore sends.
const KEY_READ = ['kms:Decrypt', 'kms:DescribeKey'];
const KEY_WRITE = [...KEY_READ, 'kms:Encrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'];

export class SpanStorage extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, private readonly props: { key: kms.IKey; protectData: boolean }) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: props.key,
      timeToLiveAttribute: SPAN_TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      deletionProtection: props.protectData,
    });
  }

  environment(): Record<string, string> {
    return { [SPANS_TABLE_ENV]: this.table.tableName };
  }

  /** The gateway: stores spans (conditional puts) and reads them back. */
  grantReadWrite(role: iam.IRole): void {
    this.table.grant(role, 'dynamodb:PutItem', 'dynamodb:Query');
    this.props.key.grant(role, ...KEY_WRITE);
    for (const action of KEY_WRITE.filter((a) => a.endsWith('*'))) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Action::${action}]`,
        reason: `Writing a DynamoDB table encrypted with a customer-managed key takes ${action} on that key (the set CDK's Table.grantWriteData grants), on that one key only.`,
      });
    }
  }

  /** The hints function: reads slow requests only. */
  grantRead(role: iam.IRole): void {
    this.table.grant(role, 'dynamodb:Query');
    this.props.key.grant(role, ...KEY_READ);
  }
}
