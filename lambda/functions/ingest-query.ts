// Lambda entry: the gateway (POST /v1/metrics, GET /v1/…, the SLO API) behind a Function URL,
// over Timestream (points) and DynamoDB (SLO state).
import type { APIGatewayProxyStructuredResultV2, Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { SloEngine } from '../slo/engine.ts';
import { ENV, once, requireEnv, sloStoreFromEnv, timestreamStoreFromEnv } from '../aws/env.ts';
import { createIngestQueryHandler } from '../aws/ingest-query.ts';
import { loadApiKeys } from '../aws/secrets.ts';
import { DroppingSpanStore } from '../aws/spans.ts';

const ready = once(async () => {
  const store = timestreamStoreFromEnv();
  return createIngestQueryHandler({
    store,
    apiKeys: await loadApiKeys(requireEnv(ENV.apiKeysSecret)),
    slo: new SloEngine({ metricStore: store, sloStore: sloStoreFromEnv() }),
    spanStore: new DroppingSpanStore(),
  });
});

export const handler = async (event: LambdaFunctionURLEvent, context: Context): Promise<APIGatewayProxyStructuredResultV2> => (await ready())(event, context);
