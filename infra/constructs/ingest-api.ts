// The gateway (OTLP ingest + query API) as one function behind a Lambda Function URL.
//
// Function URL rather than an API Gateway HTTP API: the app authenticates every /v1 route with
// its own bearer keys (so IAM auth or an API Gateway authorizer would add nothing), a Function URL
// costs nothing beyond the invocation while an HTTP API adds about $1 per million requests, and it
// has no 30 s integration timeout. Both are bound by Lambda's 6 MB synchronous payload, which is
// what limits a batch: a gzip body arrives base64-encoded, so about 4.5 MB of compressed OTLP.
// Without API Gateway there is no per-client throttling in front; cap concurrency with the
// `ingestReservedConcurrency` context setting where the account's quota allows.

import { CfnOutput, Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { Settings } from '../settings.ts';
import type { ApiKeys } from './api-keys.ts';
import { BurnwatchFunction } from './function.ts';
import type { Storage } from './storage.ts';

export class IngestApi extends Construct {
  readonly function: BurnwatchFunction;
  readonly url: lambda.FunctionUrl;

  constructor(scope: Construct, id: string, props: { settings: Settings; storage: Storage; apiKeys: ApiKeys }) {
    super(scope, id);
    this.function = new BurnwatchFunction(this, 'IngestQuery', {
      entry: 'ingest-query',
      description: 'burnwatch gateway: OTLP ingest and query API over Timestream',
      memorySize: 1024,
      timeout: Duration.seconds(30),
      reservedConcurrentExecutions: props.settings.ingestReservedConcurrency,
      environment: { ...props.storage.environment() },
    });
    const role = this.function.role;
    props.storage.grantWrite(role);
    props.storage.grantRead(role);
    props.storage.grantSloState(role, 'readwrite');
    this.function.fn.addEnvironment('BURNWATCH_API_KEYS_SECRET_ARN', props.apiKeys.grantRead(role).BURNWATCH_API_KEYS_SECRET_ARN);
    this.url = this.function.fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE, invokeMode: lambda.InvokeMode.BUFFERED });
    new CfnOutput(scope, 'IngestUrl', { value: this.url.url, description: 'Point agents here: burnwatch agent --endpoint <this URL>' });
  }
}
