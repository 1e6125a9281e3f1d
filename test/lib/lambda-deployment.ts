// The names a deployed stack hands its Lambda functions through their environment (what
// infra/ sets), for tests that invoke the real entries over the emulators: one place, so a new
// variable is added to every such test at once.

import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { ENV } from '../../lambda/aws/env.ts';
import { DynamoDbEmulator } from './dynamodb-emulator.ts';
import { TimestreamEmulator } from './timestream-emulator.ts';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

export interface DeploymentNames {
  stage: string;
  secretArn: string;
  alertTopicArn: string;
  sloTable: string;
  spansTable: string;
}

export function deploymentNames(stage = 'prod'): DeploymentNames {
  return {
    stage,
    secretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:burnwatch-${stage}-ApiKeys-AbCdEf`,
    alertTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:burnwatch-${stage}-AlertingTopic`,
    sloTable: `burnwatch-${stage}-slo`,
    spansTable: `burnwatch-${stage}-spans`,
  };
}

/** The environment of a function of that stage (Timestream storage, the default). */
export function deploymentEnv(names: DeploymentNames = deploymentNames()): Record<string, string> {
  return {
    AWS_REGION: REGION,
    [ENV.database]: `burnwatch-${names.stage}`,
    [ENV.pointsTable]: 'points',
    [ENV.seriesTable]: 'series',
    [ENV.apiKeysSecret]: names.secretArn,
    [ENV.metricsNamespace]: `Burnwatch/${names.stage}`,
    [ENV.stage]: names.stage,
    [ENV.sloTable]: names.sloTable,
    [ENV.spansTable]: names.spansTable,
    [ENV.alertTopic]: names.alertTopicArn,
  };
}

/**
 * A deployed stack as the Lambda entries see it, for `before`/`after`: the Timestream and
 * DynamoDB emulators, SNS answering every publish, Secrets Manager holding the API keys, and the
 * functions' environment — all undone by stop().
 */
export class FakeDeployment {
  readonly secrets = mockClient(SecretsManagerClient);
  readonly sns = mockClient(SNSClient);
  timestream!: TimestreamEmulator;
  dynamo!: DynamoDbEmulator;
  private savedEnv: NodeJS.ProcessEnv = {};

  constructor(readonly names: DeploymentNames = deploymentNames()) {}

  start(keys: Record<string, string | string[]>): void {
    this.timestream = new TimestreamEmulator('classes');
    this.dynamo = new DynamoDbEmulator(this.names.sloTable, this.names.spansTable);
    this.sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    this.setKeys(keys);
    this.savedEnv = { ...process.env };
    Object.assign(process.env, deploymentEnv(this.names));
  }

  /** What the API-keys secret holds from now on (`{"<tenant>": "<key>" | ["<key>", …]}`). */
  setKeys(keys: Record<string, string | string[]>): void {
    this.secrets.on(GetSecretValueCommand, { SecretId: this.names.secretArn }).resolves({ SecretString: JSON.stringify(keys) });
  }

  stop(): void {
    this.timestream.restore();
    this.dynamo.restore();
    this.secrets.restore();
    this.sns.restore();
    process.env = this.savedEnv;
  }
}
