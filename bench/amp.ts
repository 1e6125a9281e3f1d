// The AMP path on this machine: the prometheus case's gateway load (same points, same /v1/slos
// reads), once straight to Prometheus and once as a Lambda function opens AMP — PrometheusStore
// with every request SigV4-signed (lambda/aws/sigv4-fetch.ts) — through the SigV4-verifying proxy
// that stands in for AMP's front end. The ratio is what signing plus verification costs here; AWS's
// own latency is not in it. A fresh Prometheus for each run, so neither sees the other's points.
import { ampStoreFromEnv } from '../lambda/aws/env.ts';
import { PrometheusStore } from '../lambda/storage/prometheus.ts';
import { startPrometheus } from '../test/lib/prometheus-server.ts';
import { startSigV4Proxy } from '../test/lib/sigv4-verifying-proxy.ts';
import { measure, type Result } from './prometheus.ts';

const KEYS = { accessKeyId: 'ASIABENCHAMP', secretAccessKey: 'YmVuY2gtYW1wLXNlY3JldC1rZXktMDAwMDAwMDAwMA', sessionToken: 'bench-session-token' };

async function direct(): Promise<Result> {
  const server = await startPrometheus();
  try {
    return await measure(`Prometheus ${server.version}, unsigned`, new PrometheusStore({ remoteWriteUrl: server.remoteWriteUrl, queryUrl: server.url }));
  } finally {
    await server.stop();
  }
}

async function signed(): Promise<Result> {
  const server = await startPrometheus();
  const proxy = await startSigV4Proxy({ upstream: server.url, credentials: KEYS, region: 'eu-west-1', service: 'aps', now: () => new Date() });
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, token: process.env.AWS_SESSION_TOKEN };
  // The function role's keys as Lambda provides them: the SDK's default chain reads them.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey, AWS_SESSION_TOKEN: KEYS.sessionToken });
  try {
    const store = ampStoreFromEnv({ BURNWATCH_AMP_ENDPOINT: `${proxy.url}/workspaces/ws-bench/`, AWS_REGION: 'eu-west-1' });
    const result = await measure(`AMP path: SigV4-signed, verified by the local proxy, Prometheus ${server.version}`, store);
    const refused = proxy.received.filter((r) => r.status === 403);
    if (refused.length > 0) throw new Error(`the proxy refused ${refused.length} request(s): ${refused[0]!.reason}`);
    return result;
  } finally {
    for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret], ['AWS_SESSION_TOKEN', saved.token]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await proxy.close();
    await server.stop();
  }
}

export async function run(): Promise<string[]> {
  const results = [await direct(), await signed()];
  const lines = results.map(
    (r) => `amp: ${r.backend}: ${r.points} points stored at ${r.pointsPerS.toFixed(0)} points/s through the gateway; GET /v1/slos first ${r.firstSlosMs.toFixed(0)} ms, then ${r.slosMs.toFixed(0)} ms (median)`,
  );
  for (const line of lines) console.log(line);
  const [plain, amp] = results as [Result, Result];
  lines.push(`amp: signed/unsigned: write throughput ×${(amp.pointsPerS / plain.pointsPerS).toFixed(2)}, /v1/slos first ×${(amp.firstSlosMs / plain.firstSlosMs).toFixed(2)}, then ×${(amp.slosMs / plain.slosMs).toFixed(2)}`);
  return lines;
}
