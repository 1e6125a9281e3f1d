// Lambda events shaped as AWS delivers them (every field the documented payloads carry), for
// invoking handlers in tests: Function URL requests (payload format 2.0), EventBridge scheduled
// events and SNS deliveries.

import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Context, LambdaFunctionURLEvent, ScheduledEvent, SNSEvent } from 'aws-lambda';

const URL_ID = 'abcdefghijklmnopqrstuvwxyz012345';
const DOMAIN = `${URL_ID}.lambda-url.eu-west-1.on.aws`;

export interface UrlRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** Sent as binary: base64 in the event, as a Function URL does for non-text content. */
  body?: Uint8Array;
  gzip?: boolean;
}

export function functionUrlEvent(req: UrlRequest, nowMs = Date.now()): LambdaFunctionURLEvent {
  const rawQueryString = new URLSearchParams(req.query ?? {}).toString();
  const body = req.body && req.gzip ? gzipSync(req.body) : req.body;
  const headers: Record<string, string> = {
    host: DOMAIN,
    'user-agent': 'burnwatch-agent/0.1.0',
    'x-amzn-trace-id': 'Root=1-67891233-abcdef012345678912345678',
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
    accept: '*/*',
    ...(body ? { 'content-length': String(body.byteLength) } : {}),
    ...(req.gzip ? { 'content-encoding': 'gzip' } : {}),
    ...req.headers,
  };
  const time = new Date(nowMs);
  const event: LambdaFunctionURLEvent = {
    version: '2.0',
    routeKey: '$default',
    rawPath: req.path,
    rawQueryString,
    headers,
    requestContext: {
      accountId: 'anonymous',
      apiId: URL_ID,
      domainName: DOMAIN,
      domainPrefix: URL_ID,
      http: { method: req.method, path: req.path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: headers['user-agent'] },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: `${String(time.getUTCDate()).padStart(2, '0')}/${time.toLocaleString('en', { month: 'short', timeZone: 'UTC' })}/${time.getUTCFullYear()}:${time.toISOString().slice(11, 19)} +0000`,
      timeEpoch: nowMs,
    },
    isBase64Encoded: body !== undefined,
  };
  if (rawQueryString) event.queryStringParameters = { ...req.query };
  if (body) event.body = Buffer.from(body).toString('base64');
  return event;
}

export function scheduledEvent(time: string): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time,
    region: 'eu-west-1',
    resources: ['arn:aws:events:eu-west-1:123456789012:rule/burnwatch-prod-EvaluatorEveryMinute'],
    detail: {},
  };
}

export function snsEvent(messages: string[], attributes: Record<string, string> = {}): SNSEvent {
  const topic = 'arn:aws:sns:eu-west-1:123456789012:burnwatch-prod-AlertingTopic';
  return {
    Records: messages.map((Message) => ({
      EventSource: 'aws:sns',
      EventVersion: '1.0',
      EventSubscriptionArn: `${topic}:${randomUUID()}`,
      Sns: {
        Type: 'Notification',
        MessageId: randomUUID(),
        TopicArn: topic,
        Subject: '[burnwatch] page firing',
        Message,
        Timestamp: new Date().toISOString(),
        SignatureVersion: '1',
        Signature: 'EXAMPLE',
        SigningCertUrl: 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem',
        UnsubscribeUrl: `https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${topic}`,
        MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { Type: 'String', Value: v }])),
      },
    })),
  };
}

export function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/23/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
