// One way to build a burnwatch Lambda function: a lambda/functions/<name>.ts entry bundled by the
// local esbuild (no Docker), arm64, the newest Node.js runtime, its own log group with a
// retention, and a role of its own that starts with nothing but writing to that log group (no
// AWSLambdaBasicExecutionRole: that managed policy may write to every log group).

import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface BurnwatchFunctionProps {
  /** lambda/functions/<entry>.ts */
  entry: string;
  description: string;
  memorySize: number;
  timeout: Duration;
  environment?: Record<string, string>;
  reservedConcurrentExecutions?: number;
  deadLetterQueue?: IQueue;
  retryAttempts?: number;
  maxEventAge?: Duration;
}

export class BurnwatchFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BurnwatchFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `burnwatch ${props.entry} (${Stack.of(this).stackName})`,
    });
    this.fn = new NodejsFunction(this, 'Function', {
      entry: `${PROJECT_ROOT}lambda/functions/${props.entry}.ts`,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      deadLetterQueue: props.deadLetterQueue,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      bundling: {
        format: OutputFormat.CJS,
        // Runs on Lambda's Node.js 22 and 24, and on the Node 20 the tests load bundles with.
        target: 'node20',
        sourceMap: true,
        minify: true,
        // Pin the SDK clients we tested against instead of the runtime's copy.
        bundleAwsSDK: true,
        // The embedded store never runs on Lambda; keep its native binding out if anything imports it.
        externalModules: ['@duckdb/node-api'],
      },
    });
    this.logGroup.grantWrite(this.role);
  }
}
