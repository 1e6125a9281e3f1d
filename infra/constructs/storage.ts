// Timestream for LiveAnalytics: one database (encrypted with a customer-managed key), the
// `points` and `series` tables TimestreamStore writes (lambda/storage/timestream.ts), and the
// grants a function needs to write or read them.
//
// Magnetic-store writes are on: the agent's spool replays batches after an outage, and without
// them Timestream refuses anything older than the memory-store retention. Those writes are
// asynchronous; records they reject land in the S3 bucket here (otherwise they would vanish).
// The series table keeps 48 h in memory because its records are stamped with the start of their
// UTC day (up to 24 h old when written).
//
// Beside it, the SLO engine's own state (rollups, alert state, transitions, SLO specs) lives in
// one on-demand DynamoDB table (lambda/aws/dynamodb-slo-store.ts) with point-in-time recovery.
//
// The points table is partitioned on a dimension every query filters on (`metric` by default)
// rather than on the measure name, which is the same (`point`) for every record: with the
// default, one tenant's whole history would share one partition key. Where data must outlive a
// mistaken `cdk destroy` (protectData, on for stage prod), the stores are retained and the
// DynamoDB table refuses deletion.

import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as timestream from 'aws-cdk-lib/aws-timestream';
import { Construct } from 'constructs';
import { TTL_ATTRIBUTE as SLO_TTL_ATTRIBUTE } from '../../lambda/aws/dynamodb-slo-store.ts';
import type { PartitionKeyChoice, Settings } from '../settings.ts';
import { AmpWorkspace } from './amp.ts';

export const POINTS_TABLE = 'points';
export const SERIES_TABLE = 'series';
const SERIES_MEMORY_RETENTION_HOURS = 48;
/** The rejects bucket's request-metrics filter (the whole bucket): each PUT is a rejection report. */
export const REJECT_REPORTS_METRICS_ID = 'RejectionReports';

/**
 * A dimension as the partition key, REQUIRED in every record (TimestreamStore writes `metric` and
 * `tenant` on each): a record without it is refused at write instead of landing in a catch-all
 * partition. measure_name is Timestream's default, stated explicitly.
 */
function pointsSchema(key: PartitionKeyChoice): timestream.CfnTable.SchemaProperty {
  if (key === 'measure_name') return { compositePartitionKey: [{ type: 'MEASURE' }] };
  return { compositePartitionKey: [{ type: 'DIMENSION', name: key, enforcementInRecord: 'REQUIRED' }] };
}

export class Storage extends Construct {
  readonly key: kms.Key;
  readonly databaseName: string;
  // The Timestream resources exist with `storage=timestream` (the default), the AMP workspace with
  // `storage=amp`: an account without Timestream must not have to create any of them.
  readonly database?: timestream.CfnDatabase;
  readonly pointsTable?: timestream.CfnTable;
  readonly seriesTable?: timestream.CfnTable;
  readonly amp?: AmpWorkspace;
  /** Hours each table keeps in its memory store; older writes go to the magnetic store. */
  readonly memoryRetentionHours: { points: number; series: number };
  readonly rejectedBucket?: s3.Bucket;
  readonly sloTable: dynamodb.Table;

  constructor(scope: Construct, id: string, settings: Settings) {
    super(scope, id);
    const dataRemoval = settings.protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.key = new kms.Key(this, 'Key', {
      description: `burnwatch-${settings.stage}: Timestream, alert topic and dead-letter queue`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.databaseName = `burnwatch-${settings.stage}`;
    this.memoryRetentionHours = { points: settings.memoryRetentionHours, series: Math.max(settings.memoryRetentionHours, SERIES_MEMORY_RETENTION_HOURS) };
    if (settings.storage === 'amp') {
      this.amp = new AmpWorkspace(this, 'Amp', settings);
      this.amp.workspace.applyRemovalPolicy(dataRemoval);
    } else {
      const database = (this.database = new timestream.CfnDatabase(this, 'Database', { databaseName: this.databaseName, kmsKeyId: this.key.keyArn }));
      database.applyRemovalPolicy(dataRemoval);
      Validations.of(this).acknowledge({
        id: 'CloudFormation-Validate::W3697',
        reason: 'Timestream for LiveAnalytics is closed to new customers since 2025-06-20 (docs/aws.md); this backend is for accounts that have it, and TimestreamStore is one MetricStore behind an interface that takes another.',
      });

      const rejectedBucket = (this.rejectedBucket = new s3.Bucket(this, 'MagneticRejects', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        lifecycleRules: [{ expiration: Duration.days(30) }],
        metrics: [{ id: REJECT_REPORTS_METRICS_ID }],
        removalPolicy: dataRemoval,
        autoDeleteObjects: false,
      }));
      Validations.of(rejectedBucket).acknowledge({
        id: 'AwsSolutions::AwsSolutions-S1',
        reason: 'Only Timestream writes here (reports of asynchronously rejected magnetic-store records, expired after 30 days); CloudTrail data events cover access if needed, and an access-log bucket would need its own.',
      });

      const table = (tid: string, tableName: string, memoryHours: number, prefix: string, schema?: timestream.CfnTable.SchemaProperty) => {
        const t = new timestream.CfnTable(this, tid, {
          databaseName: this.databaseName,
          tableName,
          // These two properties are untyped (`any`) in aws-cdk-lib and pass to CloudFormation as
          // written, so they take CloudFormation's PascalCase names (camelCase is silently invalid).
          retentionProperties: {
            MemoryStoreRetentionPeriodInHours: String(memoryHours),
            MagneticStoreRetentionPeriodInDays: String(settings.magneticRetentionDays),
          },
          magneticStoreWriteProperties: {
            EnableMagneticStoreWrites: true,
            MagneticStoreRejectedDataLocation: {
              S3Configuration: { BucketName: rejectedBucket.bucketName, EncryptionOption: 'SSE_S3', ObjectKeyPrefix: prefix },
            },
          },
          schema,
        });
        t.addResourceDependency(database);
        t.applyRemovalPolicy(dataRemoval);
        return t;
      };
      this.pointsTable = table('PointsTable', POINTS_TABLE, this.memoryRetentionHours.points, 'points/', pointsSchema(settings.pointsPartitionKey));
      this.seriesTable = table('SeriesTable', SERIES_TABLE, this.memoryRetentionHours.series, 'series/');
    }

    this.sloTable = new dynamodb.Table(this, 'SloState', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: dataRemoval,
      deletionProtection: settings.protectData,
      // Stored alert transitions expire (DynamoSloStore writes the attribute; reads skip expired ones).
      timeToLiveAttribute: SLO_TTL_ATTRIBUTE,
    });
  }

  get tableNames(): string[] {
    return [POINTS_TABLE, SERIES_TABLE];
  }

  get tableArns(): string[] {
    return [this.pointsTable, this.seriesTable].flatMap((t) => (t ? [t.attrArn] : []));
  }

  /** The environment the functions open their point store and SLO store from (lambda/aws/env.ts). */
  environment(): Record<string, string> {
    if (this.amp) return { ...this.amp.environment(), BURNWATCH_SLO_TABLE: this.sloTable.tableName };
    return {
      BURNWATCH_TIMESTREAM_DATABASE: this.databaseName,
      BURNWATCH_TIMESTREAM_POINTS_TABLE: POINTS_TABLE,
      BURNWATCH_TIMESTREAM_SERIES_TABLE: SERIES_TABLE,
      // TimestreamStore tells late points (magnetic store, readable only hours later) by these.
      BURNWATCH_TIMESTREAM_POINTS_MEMORY_HOURS: String(this.memoryRetentionHours.points),
      BURNWATCH_TIMESTREAM_SERIES_MEMORY_HOURS: String(this.memoryRetentionHours.series),
      BURNWATCH_SLO_TABLE: this.sloTable.tableName,
    };
  }

  /** Exactly the calls DynamoSloStore makes, on the SLO table only. */
  /** 'attach': only updating stored transitions and alerts with their hints (the hints function). */
  grantSloState(role: iam.IRole, access: 'read' | 'readwrite' | 'attach'): void {
    const actions = {
      read: ['dynamodb:GetItem', 'dynamodb:Query'],
      readwrite: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      attach: ['dynamodb:UpdateItem'],
    }[access];
    this.sloTable.grant(role, ...actions);
  }

  grantWrite(role: iam.IRole): void {
    if (this.amp) this.amp.grantWrite(role);
    else this.grant(role, ['timestream:WriteRecords'], 'Write');
  }

  grantRead(role: iam.IRole): void {
    if (this.amp) this.amp.grantRead(role);
    else this.grant(role, ['timestream:Select'], 'Read');
  }

  private grant(role: iam.IRole, actions: string[], what: string): void {
    const policy = new iam.Policy(this, `${what}${role.node.addr.slice(0, 8)}`, {
      statements: [
        new iam.PolicyStatement({ actions, resources: this.tableArns }),
        // Endpoint discovery has no resource to scope to (Timestream's IAM reference lists none).
        new iam.PolicyStatement({ actions: ['timestream:DescribeEndpoints'], resources: ['*'] }),
      ],
    });
    policy.attachToRole(role);
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason: 'timestream:DescribeEndpoints (endpoint discovery, required before every Timestream call) supports no resource-level scoping; the data actions are scoped to the two tables.',
    });
  }
}
