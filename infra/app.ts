// The CDK app (`cdk.json` runs it): one BurnwatchStack for the stage from context, checked by
// cdk-nag's AwsSolutions pack — any finding not fixed or acknowledged with a reason fails synth.

import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildDashboard } from '../lambda/dashboard/build.ts';
import { settingsFrom } from './settings.ts';
import { BurnwatchStack } from './stack.ts';

export function buildApp(app: App): BurnwatchStack {
  const settings = settingsFrom(app.node);
  const stack = new BurnwatchStack(app, `burnwatch-${settings.stage}`, settings, {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  // The gateway's bundle embeds the dashboard's assets: `cdk synth`/`deploy` on a checkout that
  // never ran setup builds them first (skipped when up to date).
  await buildDashboard();
  const app = new App();
  buildApp(app);
  app.synth();
}
