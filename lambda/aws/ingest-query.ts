// The gateway app (ingest + query API) as a Lambda handler behind a Function URL: hono/aws-lambda
// turns the payload-v2 event into a web Request (base64 bodies decoded, so a gzip body arrives as
// its bytes) and the Response back into the result shape. The app gunzips and validates itself,
// exactly as it does behind Node's HTTP server.

import type { APIGatewayProxyStructuredResultV2, Context, LambdaFunctionURLEvent } from 'aws-lambda';
import { handle } from 'hono/aws-lambda';
import { createGatewayApp, type GatewayDeps } from '../gateway/app.ts';

export type FunctionUrlHandler = (event: LambdaFunctionURLEvent, context?: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export function createIngestQueryHandler(deps: GatewayDeps): FunctionUrlHandler {
  const handler = handle(createGatewayApp(deps));
  // A Function URL event is API Gateway's payload v2 (hono detects it by requestContext.http).
  return async (event, context) => handler(event as unknown as Parameters<typeof handler>[0], context) as Promise<APIGatewayProxyStructuredResultV2>;
}
