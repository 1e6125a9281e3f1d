// Lambda entry: the gateway (POST /v1/metrics, POST /v1/traces, GET /v1/…, the SLO API) behind a
// Function URL, over the configured point store (Timestream or AMP, lambda/aws/env.ts) and DynamoDB
// (SLO state, slow-request spans); API keys from Secrets Manager, reloaded on a TTL.
import type { APIGatewayProxyStructuredResultV2, Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { SloEngine } from '../slo/engine.ts';
import { ENV, once, requireEnv, sloStoreFromEnv, metricStoreFromEnv, spanStoreFromEnv } from '../aws/env.ts';
import { createIngestQueryHandler } from '../aws/ingest-query.ts';
import { ApiKeyCache } from '../aws/secrets.ts';

const ready = once(async () => {
  const store = metricStoreFromEnv();
  const apiKeys = new ApiKeyCache({ secretId: requireEnv(ENV.apiKeysSecret) });
  await apiKeys.current(); // an unreadable secret fails the cold start with its reason
  return createIngestQueryHandler({
    store,
    apiKeys: () => apiKeys.current(),
    // Read-only on rollups: the evaluator is their one writer; GET /v1/slos says how fresh (evaluated_at).
    slo: new SloEngine({ metricStore: store, sloStore: sloStoreFromEnv(), refreshOnRead: false }),
    spanStore: spanStoreFromEnv(),
  });
});

export const handler = async (event: LambdaFunctionURLEvent, context: Context): Promise<APIGatewayProxyStructuredResultV2> => (await ready())(event, context);
