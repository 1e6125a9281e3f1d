// Real processes for integration tests: the burnwatch CLI, Go fixture services, free
// ports, and waiting on conditions without fixed sleeps.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURE_BIN = path.join(ROOT, 'test/fixtures/go/bin');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

/** Polls `check` until it returns a value other than undefined, or fails with `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}

export interface Managed {
  child: ChildProcess;
  output(): string;
  /** SIGTERM (or `signal`), then wait for exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export function manage(child: ChildProcess): Managed {
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs `burnwatch <args>` as a child process, the way a user would. */
export function burnwatch(args: string[], env: Record<string, string> = {}): Managed {
  return manage(
    spawn(process.execPath, [path.join(ROOT, 'bin/burnwatch.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Runs `burnwatch gateway` on `port` (with any further CLI options) and resolves once /healthz answers 200. */
export async function startGatewayProcess(port: number, dataDir: string, apiKey: string, extraArgs: readonly string[] = []): Promise<Managed> {
  const g = burnwatch(['gateway', '--port', String(port), '--data-dir', dataDir, ...extraArgs], { BURNWATCH_API_KEY: apiKey });
  const url = `http://127.0.0.1:${port}/healthz`;
  await waitFor(`the gateway on port ${port} to serve`, async () => {
    if (g.child.exitCode !== null) throw new Error(`gateway exited: ${g.output()}`);
    return (await getJson(url).catch(() => ({ status: 0 }))).status === 200 ? true : undefined;
  }, 30_000);
  return g;
}

export interface Fixture extends Managed {
  pid: number;
  url: string;
}

/** Starts a Go fixture from test/fixtures/go/bin on a free loopback port. */
export async function startFixture(name: string, env: Record<string, string> = {}, bin = path.join(FIXTURE_BIN, name)): Promise<Fixture> {
  if (!fs.existsSync(bin)) throw new Error(`${bin} missing: run bash scripts/setup`);
  const portFile = path.join(tempDir('bw-fixture'), 'port');
  const m = manage(spawn(bin, ['-addr', '127.0.0.1:0', '-port-file', portFile], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  const port = await waitFor(`${name} to listen`, () => {
    if (m.child.exitCode !== null) throw new Error(`${name} exited: ${m.output()}`);
    const text = fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8') : '';
    return text ? Number(text) : undefined;
  }, 10_000, 20);
  return { ...m, pid: m.child.pid!, url: `http://127.0.0.1:${port}` };
}

/** GET with a bearer key; returns status and parsed JSON. */
export async function getJson(url: string, apiKey?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body };
}

/** Sends `count` requests, `concurrency` at a time, and checks every status. */
export async function sendRequests(urls: readonly string[], concurrency = 8): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < urls.length) {
        const url = urls[next++];
        const res = await fetch(url);
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}
