// Lambda entry: the SLO evaluator, every minute from an EventBridge schedule, for every tenant
// that has an API key: the SLO engine over the point store (Timestream or AMP) and DynamoDB (its own state),
// alert transitions to SNS (firing ones for the hints function to enrich), figures as EMF metrics.
import type { Context, ScheduledEvent } from 'aws-lambda';
import { SnsNotifier } from '../notify/sns.ts';
import { ENV, once, requireEnv, sloStoreFromEnv, metricStoreFromEnv } from '../aws/env.ts';
import { createEvaluateHandler, engineCycle } from '../aws/evaluator.ts';
import { ApiKeyCache } from '../aws/secrets.ts';

const ready = once(async () => {
  // The tenants are those holding a key, read through the gateway's cache: a key added to the
  // secret is evaluated within its TTL, and a Secrets Manager outage keeps the last good list.
  const apiKeys = new ApiKeyCache({ secretId: requireEnv(ENV.apiKeysSecret) });
  return createEvaluateHandler({
    tenants: () => apiKeys.tenants(),
    cycle: engineCycle({
      metricStore: metricStoreFromEnv(),
      sloStore: sloStoreFromEnv(),
      notifiers: [new SnsNotifier(requireEnv(ENV.alertTopic))],
      // Firing alerts go out with hints pending: the hints function computes and publishes them.
      hints: 'deferred',
    }),
    namespace: requireEnv(ENV.metricsNamespace),
    stage: requireEnv(ENV.stage),
  });
});

// The context tells the time left: rollup backfills stop inside it and resume next minute.
export const handler = async (event: ScheduledEvent, context?: Context) => (await ready())(event, context);
