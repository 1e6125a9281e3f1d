// `burnwatch up --demo`: the story of a bad deploy, told by a Go fixture service with steady
// traffic. A healthy baseline well inside its budgets (0.02% errors against 99.9%); two minutes
// in, release "v2" is deployed and fails 20% of checkouts — the page fires and the deploy hint
// names the new build; three minutes later v1 is rolled back and the SLOs recover.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../common/duration.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_BINARY = path.join(ROOT, 'test/fixtures/go/bin/httpserver');
const DEMO_SOURCE = path.join(ROOT, 'test/fixtures/go/httpserver');
/** The bad release: the same source linked with another release stamp, so another build id. */
const DEMO_BINARY_V2 = path.join(ROOT, 'test/fixtures/go/bin/httpserver-demo-v2');
export const DEMO_SERVICE = 'checkout-api';
/** One request in this many hits /fail: the healthy baseline's rare error (0.02%, a 0.2× burn of 99.9%). */
const BASELINE_ERROR_EVERY = 5000;

export interface DemoOptions {
  log: (line: string) => void;
  /** Requests per second the generator aims for. */
  rate?: number;
  /** When the bad release goes out and how long until it is rolled back. */
  faultAfterMs?: number;
  faultForMs?: number;
  /** Share of checkout requests the bad release fails, per mille. */
  faultPermille?: number;
}

export interface Demo {
  service: string;
  url: string;
  stop(): Promise<void>;
}

interface Release {
  name: string;
  child: ChildProcess;
  url: string;
}

async function startRelease(name: string, binary: string, errorPermille: number): Promise<Release> {
  const portFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'burnwatch-demo-')), 'port');
  const child = spawn(binary, ['-addr', '127.0.0.1:0', '-port-file', portFile], {
    env: { ...process.env, OTEL_SERVICE_NAME: DEMO_SERVICE, FIXTURE_ERROR_PERMILLE: String(errorPermille) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await waitForPortFile(portFile, child);
  return { name, child, url: `http://127.0.0.1:${port}` };
}

function stopRelease(r: Release | undefined): void {
  if (r && r.child.exitCode === null) r.child.kill('SIGTERM');
}

/** Builds the "v2" binary (about a second with Go's build cache); undefined when Go is not there. */
async function buildBadRelease(): Promise<string | undefined> {
  const source = path.join(DEMO_SOURCE, 'main.go');
  if (fs.existsSync(DEMO_BINARY_V2) && fs.statSync(DEMO_BINARY_V2).mtimeMs >= fs.statSync(source).mtimeMs) return DEMO_BINARY_V2;
  try {
    // As scripts/build-go-fixtures builds: Debian's Go in GOPATH mode, no module downloads.
    await promisify(execFile)('go', ['build', '-ldflags=-X=main.release=v2', '-o', DEMO_BINARY_V2, '.'], {
      cwd: DEMO_SOURCE,
      env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '', CGO_ENABLED: '0' },
    });
    return DEMO_BINARY_V2;
  } catch {
    return undefined;
  }
}

export async function startDemo(opts: DemoOptions): Promise<Demo> {
  if (!fs.existsSync(DEMO_BINARY)) {
    throw new Error(`${DEMO_BINARY} is missing: run 'bash scripts/setup' (npm start does) to build the Go fixtures`);
  }
  let live = await startRelease('v1', DEMO_BINARY, 0);
  opts.log(`demo: ${DEMO_SERVICE} v1 (Go net/http, pid ${live.child.pid}) listening on ${live.url}; healthy traffic, about 0.02% errors`);
  const badRelease = buildBadRelease();

  const controller = new AbortController();
  const traffic = generateTraffic(() => live.url, opts.rate ?? 40, controller.signal);
  const deploy = async (name: string, binary: string, permille: number) => {
    const next = await startRelease(name, binary, permille);
    const previous = live;
    live = next; // traffic moves to the new release, then the old one stops: a rolling deploy of one
    stopRelease(previous);
    return next;
  };
  const story = (async () => {
    const after = opts.faultAfterMs ?? envDuration('BURNWATCH_DEMO_FAULT_AFTER') ?? 120_000;
    const lasting = opts.faultForMs ?? envDuration('BURNWATCH_DEMO_FAULT_FOR') ?? 180_000;
    const permille = opts.faultPermille ?? 200;
    try {
      await sleep(after, undefined, { signal: controller.signal });
      const v2 = await badRelease;
      if (v2) {
        const r = await deploy('v2', v2, permille);
        opts.log(`demo: deployed ${DEMO_SERVICE} v2 (pid ${r.child.pid}, ${r.url}) — it fails ${permille / 10}% of /api/checkout with 503; watch the page alert and its deploy hint`);
      } else {
        // No Go toolchain to build v2 with: the same failure, switched on in v1.
        await fetch(`${live.url}/admin/error-permille?value=${permille}`, { signal: controller.signal });
        opts.log(`demo: fault injected — ${permille / 10}% of ${DEMO_SERVICE} /api/checkout requests now fail with 503`);
      }
      await sleep(lasting, undefined, { signal: controller.signal });
      if (v2) {
        const r = await deploy('v1', DEMO_BINARY, 0);
        opts.log(`demo: rolled back to ${DEMO_SERVICE} v1 (pid ${r.child.pid}); the SLOs recover`);
      } else {
        await fetch(`${live.url}/admin/error-permille?value=0`, { signal: controller.signal });
        opts.log('demo: fault cleared');
      }
    } catch {
      /* stopped */
    }
  })();
  return {
    service: DEMO_SERVICE,
    get url() {
      return live.url;
    },
    async stop() {
      controller.abort();
      await Promise.allSettled([traffic, story]);
      stopRelease(live);
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
 * A mix of routes like a small shop's front door: mostly checkouts, some ids, a rare slow
 * report (0.25% of requests, inside the default 99% latency objective) and a rare failure.
 */
function pickPath(i: number): string {
  if (i % BASELINE_ERROR_EVERY === BASELINE_ERROR_EVERY - 1) return '/fail';
  if (i % 400 === 0) return '/sleep?ms=350';
  if (i % 5 === 0) return `/users/${1000 + (i % 37)}`;
  if (i % 7 === 0) return '/hello';
  return '/api/checkout';
}

async function generateTraffic(url: () => string, rate: number, signal: AbortSignal): Promise<void> {
  const workers = 4;
  const gapMs = (1000 * workers) / rate;
  let i = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (!signal.aborted) {
        const started = Date.now();
        try {
          const res = await fetch(url() + pickPath(i++), { signal });
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
