// The names a deployed stack hands its Lambda functions through their environment (what
// infra/ sets), for tests that invoke the real entries over the emulators: one place, so a new
// variable is added to every such test at once.

import { ENV } from '../../lambda/aws/env.ts';

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
