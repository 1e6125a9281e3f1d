// Amazon Managed Service for Prometheus as the point store (`-c storage=amp`): one workspace, and
// the grants a function needs to write or read it. For accounts created after Timestream for
// LiveAnalytics closed to new customers (2025-06-20); PrometheusStore (lambda/storage/prometheus.ts)
// talks to it over remote write and the Prometheus query API, signed with SigV4 as `aps`
// (lambda/aws/sigv4-fetch.ts). No VPC: the workspace endpoints are public and IAM-authenticated.
//
// Out-of-order window: the agent's spool replays batches after an outage, and a workspace refuses
// samples older than its window behind a series' newest one (default 60 s); PrometheusStore
// reports those as refused. The window is opened as far as the setting allows.

import * as aps from 'aws-cdk-lib/aws-aps';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { Settings } from '../settings.ts';

/**
 * The IAM actions behind the HTTP calls PrometheusStore makes (AMP's IAM reference maps each
 * Prometheus API path to one): remote write; /api/v1/query and query_range; /api/v1/series.
 * A store change that calls another path (labels, metadata) must add its action here.
 */
export const AMP_WRITE_ACTIONS = ['aps:RemoteWrite'] as const;
export const AMP_READ_ACTIONS = ['aps:GetSeries', 'aps:QueryMetrics'] as const;

export class AmpWorkspace extends Construct {
  readonly workspace: aps.CfnWorkspace;

  constructor(scope: Construct, id: string, settings: Settings) {
    super(scope, id);
    this.workspace = new aps.CfnWorkspace(this, 'Workspace', {
      alias: `burnwatch-${settings.stage}`,
      workspaceConfiguration: {
        retentionPeriodInDays: settings.ampRetentionDays,
        outOfOrderTimeWindowInSeconds: settings.ampOutOfOrderSeconds,
      },
    });
  }

  /** What metricStoreFromEnv (lambda/aws/env.ts) reads: the store kind and the workspace's Prometheus endpoint. */
  environment(): Record<string, string> {
    return { BURNWATCH_STORAGE: 'amp', BURNWATCH_AMP_ENDPOINT: this.workspace.attrPrometheusEndpoint };
  }

  grantWrite(role: iam.IRole): void {
    this.grant(role, AMP_WRITE_ACTIONS);
  }

  grantRead(role: iam.IRole): void {
    this.grant(role, AMP_READ_ACTIONS);
  }

  private grant(role: iam.IRole, actions: readonly string[]): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...actions], resources: [this.workspace.attrArn] }));
  }
}
