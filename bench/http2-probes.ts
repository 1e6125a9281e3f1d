// The HTTP server probes' cost on HTTP/2 Go servers, measured side by side in one run: the
// h2server fixture pinned to CPU 0 (GOMAXPROCS=1), h2load (closed loop, one stream per
// connection at a time) on CPU 1, rounds alternating without / with the http-server collector
// attached (the probes alone, no agent). Uprobe hits per request, all on a prologue `jbe`:
//   h2 over TLS (net/http's bundled server): ServeHTTP + handlerDone = 2
//   h2c (golang.org/x/net/http2):           runHandler + handlerDone = 2
//   h2 over TLS by x/net (ConfigureServer): runHandler + ServeHTTP + handlerDone = 3
// The figure is the ratio of the means and the added µs per request on one core.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { inspectGoBinary } from '../agent/goinspect/index.ts';
import { buildGoFixture } from '../test/helpers/go.ts';
import { manage, tempDir, waitFor } from '../test/lib/processes.ts';
import { CONNECTIONS, ROUNDS, RUN_SECONDS, mean, signed } from './lib.ts';

const execFileAsync = promisify(execFile);

function h2load(url: string): number {
  const out = execFileSync('taskset', ['-c', '1', 'h2load', '-t1', `-c${CONNECTIONS}`, '-m1', `-D${RUN_SECONDS}`, '--warm-up-time=1', url], { encoding: 'utf8' });
  const m = /finished in [^,]+, ([\d.]+) req\/s/.exec(out);
  if (!m) throw new Error(`unexpected h2load output:\n${out}`);
  if (!/ 0 failed, 0 errored/.test(out)) throw new Error(`h2load saw failures:\n${out}`);
  return Number(m[1]);
}

export async function run(): Promise<string[]> {
  const bin = await buildGoFixture('h2server');
  const info = await inspectGoBinary(bin);
  if ('reason' in info) throw new Error(info.reason);
  const dir = tempDir('bw-bench-h2');
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  await execFileAsync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  const modes = [
    { name: 'h2 over TLS (bundled)', args: ['-tls-cert', cert, '-tls-key', key], scheme: 'https' },
    { name: 'h2c (x/net)', args: ['-h2c'], scheme: 'http' },
    { name: 'h2 over TLS (x/net)', args: ['-tls-cert', cert, '-tls-key', key, '-xnet'], scheme: 'https' },
  ];
  const results: string[] = [];
  for (const mode of modes) {
    const portFile = path.join(tempDir('bw-bench-h2'), 'port');
    const fixture = manage(
      spawn('taskset', ['-c', '0', bin, '-addr', '127.0.0.1:0', '-port-file', portFile, ...mode.args], {
        env: { ...process.env, GOMAXPROCS: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    try {
      const port = await waitFor('h2server', () => (fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8')) || undefined, 10_000, 20);
      const url = `${mode.scheme}://127.0.0.1:${port}/hello`;
      const pid = fixture.child.pid!;
      h2load(url); // warm-up
      const off: number[] = [];
      const on: number[] = [];
      let counted = 0;
      for (let round = 0; round < ROUNDS; round++) {
        off.push(h2load(url));
        const collector = new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o') });
        try {
          collector.attachGo({ pid, exePath: `/proc/${pid}/exe`, serviceName: 'h2-bench' } as Parameters<HttpServerCollector['attachGo']>[0], info);
          on.push(h2load(url));
          for (const p of await collector.drainPoints(() => 'h2-bench')) counted += p.histogram.count;
        } finally {
          collector.close();
        }
      }
      off.push(h2load(url));
      const perRequestUs = (1 / mean(on) - 1 / mean(off)) * 1e6;
      results.push(
        `${mode.name.padEnd(22)} with/without probes = ${(mean(on) / mean(off)).toFixed(3)}  ` +
          `(${mean(on).toFixed(0)} vs ${mean(off).toFixed(0)} req/s, ${signed(perRequestUs, 1)} µs a request on one core; ${counted} requests counted)`,
      );
      console.log(results[results.length - 1]);
    } finally {
      await fixture.stop();
    }
  }
  return [`Go 1.19 h2server on CPU 0 (GOMAXPROCS=1), h2load -t1 -c${CONNECTIONS} -m1 -D${RUN_SECONDS} on CPU 1, ${ROUNDS} alternating rounds:`, ...results];
}
