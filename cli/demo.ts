// `burnwatch up --demo`: a Go fixture service with steady traffic and a scheduled
// fault, so a first run shows real numbers within seconds and, a few minutes in, a
// burning error budget.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../common/duration.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_BINARY = path.join(ROOT, 'test/fixtures/go/bin/httpserver');
export const DEMO_SERVICE = 'checkout-api';

export interface DemoOptions {
  log: (line: string) => void;
  /** Requests per second the generator aims for. */
  rate?: number;
  /** When the fault starts and how long it lasts. */
  faultAfterMs?: number;
  faultForMs?: number;
  /** Share of checkout requests failing during the fault, per mille. */
  faultPermille?: number;
}

export interface Demo {
  service: string;
  url: string;
  stop(): Promise<void>;
}

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  if (!fs.existsSync(DEMO_BINARY)) {
    throw new Error(`${DEMO_BINARY} is missing: run 'bash scripts/setup' (npm start does) to build the Go fixtures`);
  }
  const portFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'burnwatch-demo-')), 'port');
  const child = spawn(DEMO_BINARY, ['-addr', '127.0.0.1:0', '-port-file', portFile], {
    env: { ...process.env, OTEL_SERVICE_NAME: DEMO_SERVICE, FIXTURE_ERROR_PERMILLE: '2' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await waitForPortFile(portFile, child);
  const url = `http://127.0.0.1:${port}`;
  opts.log(`demo: ${DEMO_SERVICE} (Go net/http, pid ${child.pid}) listening on ${url}`);

  const controller = new AbortController();
  const traffic = generateTraffic(url, opts.rate ?? 40, controller.signal);
  const fault = scheduleFault(url, opts, controller.signal);
  return {
    service: DEMO_SERVICE,
    url,
    async stop() {
      controller.abort();
      await Promise.allSettled([traffic, fault]);
      child.kill('SIGTERM');
    },
  };
}

async function waitForPortFile(file: string, child: ChildProcess): Promise<number> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`demo service exited with code ${child.exitCode}`);
    try {
      const port = Number(fs.readFileSync(file, 'utf8'));
      if (port > 0) return port;
    } catch {
      /* not written yet */
    }
    await sleep(50);
  }
  throw new Error('demo service did not start listening within 5 s');
}

/**
 * A mix of routes like a small shop's front door: mostly checkouts, some ids, and a
 * rare slow report (0.25% of requests, inside the default 99% latency objective).
 */
function pickPath(i: number): string {
  if (i % 400 === 0) return '/sleep?ms=350';
  if (i % 5 === 0) return `/users/${1000 + (i % 37)}`;
  if (i % 7 === 0) return '/hello';
  return '/api/checkout';
}

async function generateTraffic(url: string, rate: number, signal: AbortSignal): Promise<void> {
  const workers = 4;
  const gapMs = (1000 * workers) / rate;
  let i = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!signal.aborted) {
        const started = Date.now();
        try {
          const res = await fetch(url + pickPath(i++), { signal });
          await res.arrayBuffer();
        } catch {
          if (signal.aborted) return;
        }
        await sleep(Math.max(0, gapMs - (Date.now() - started)), undefined, { signal }).catch(() => {});
      }
    }),
  );
}

/** A duration from the environment (e.g. BURNWATCH_DEMO_FAULT_AFTER=30s), for a faster story in tests. */
function envDuration(name: string): number | undefined {
  const text = process.env[name];
  if (!text) return undefined;
  try {
    return parseDuration(text);
  } catch (err) {
    throw new Error(`${name}: ${(err as Error).message}`);
  }
}

async function scheduleFault(url: string, opts: DemoOptions, signal: AbortSignal): Promise<void> {
  const after = opts.faultAfterMs ?? envDuration('BURNWATCH_DEMO_FAULT_AFTER') ?? 120_000;
  const lasting = opts.faultForMs ?? envDuration('BURNWATCH_DEMO_FAULT_FOR') ?? 180_000;
  const permille = opts.faultPermille ?? 200;
  try {
    await sleep(after, undefined, { signal });
    opts.log(`demo: fault injected — ${permille / 10}% of ${DEMO_SERVICE} /api/checkout requests now fail with 503`);
    await fetch(`${url}/admin/error-permille?value=${permille}`, { signal });
    await sleep(lasting, undefined, { signal });
    await fetch(`${url}/admin/error-permille?value=2`, { signal });
    opts.log('demo: fault cleared');
  } catch {
    /* stopped */
  }
}
