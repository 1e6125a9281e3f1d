// What each peer in `npm run bench -- peers` runs beside the Go service, started the way its
// documentation has a user start it, and the process whose CPU and memory count as its cost.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startPrometheus } from '../test/lib/prometheus-server.ts';
import { FIXTURE_BIN, burnwatch, manage, tempDir, waitFor } from '../test/lib/processes.ts';
import { BENCH_FIXTURE_SERVICE, BENCH_KEY, requestDeepProbes } from './lib.ts';

export interface Collector {
  /** The collector's own process (agent, bpftrace, Prometheus server). */
  pid: number;
  /** Stops it; throws when it did not see the requests (the measurement would be void). */
  stop(): Promise<void>;
}

export interface Peer {
  name: string;
  /** The Go fixture binary under test/fixtures/go/bin it runs against. */
  fixture: string;
  /** Where the collector's CPU and memory come from, for the table's notes. */
  collector: string;
  start(fixture: { pid: number; url: string }, gatewayUrl: string): Promise<Collector | undefined>;
}

/**
 * What an engineer types to time requests: two entry uprobes, the same two burnwatch uses.
 * A uretprobe on ServeHTTP would be the obvious choice, but uretprobes corrupt Go stacks (the
 * runtime moves goroutine stacks and the return address the kernel patched moves with them),
 * so the end is the entry of (*response).finishRequest. The key is the goroutine: Go's
 * register ABI keeps the current g in r14 (amd64), and a goroutine can change threads between
 * the two probes, so a tid key would mismatch.
 */
export function bpftraceScript(binary: string): string {
  return [
    `uprobe:${binary}:"net/http.serverHandler.ServeHTTP" { @start[reg("r14")] = nsecs; }`,
    `uprobe:${binary}:"net/http.(*response).finishRequest" /@start[reg("r14")]/ {`,
    `  @us = hist((nsecs - @start[reg("r14")]) / 1000); @requests = count(); delete(@start[reg("r14")]);`,
    `}`,
    '',
  ].join('\n');
}

/**
 * The agent at default settings; with `deep`, deep probes asked for on the fixture's service as an
 * operator would (`burnwatch probe`), so the Go load generator is not probed with it.
 */
async function startBurnwatch(fixture: { pid: number }, gatewayUrl: string, deep: boolean): Promise<Collector> {
  // Default settings: only the endpoint, key and a throw-away spool directory.
  const agent = burnwatch(['agent', '--endpoint', gatewayUrl, '--spool-dir', tempDir('bw-peers-spool')], { BURNWATCH_API_KEY: BENCH_KEY });
  const seen = (line: string) => () => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
    return agent.output().includes(line) ? true : undefined;
  };
  await waitFor('agent attach', seen(`instrumenting pid ${fixture.pid} `), 30_000, 50);
  if (deep) {
    await requestDeepProbes(gatewayUrl, BENCH_FIXTURE_SERVICE, false);
    await waitFor('deep probes attached', seen(`deep probes attached to pid ${fixture.pid} `), 30_000, 50);
  }
  return {
    pid: agent.child.pid!,
    async stop() {
      if (deep) await requestDeepProbes(gatewayUrl, BENCH_FIXTURE_SERVICE, true);
      await agent.stop('SIGINT');
    },
  };
}

export const PEERS: Peer[] = [
  { name: 'none', fixture: 'httpserver', collector: '—', start: async () => undefined },
  {
    name: 'burnwatch',
    fixture: 'httpserver',
    collector: 'the agent process (node + libbpf)',
    start: (fixture, gatewayUrl) => startBurnwatch(fixture, gatewayUrl, false),
  },
  {
    name: 'burnwatch, deep probes',
    fixture: 'httpserver',
    collector: 'the agent process (node + libbpf)',
    start: (fixture, gatewayUrl) => startBurnwatch(fixture, gatewayUrl, true),
  },
  {
    name: 'bpftrace',
    fixture: 'httpserver',
    collector: 'the bpftrace process',
    async start() {
      const script = path.join(tempDir('bw-peers-bt'), 'serve.bt');
      fs.writeFileSync(script, bpftraceScript(path.join(FIXTURE_BIN, 'httpserver')));
      const bt = manage(spawn('bpftrace', [script], { stdio: ['ignore', 'pipe', 'pipe'] }));
      await waitFor('bpftrace attach', () => {
        if (bt.child.exitCode !== null) throw new Error(`bpftrace exited: ${bt.output()}`);
        return bt.output().includes('Attaching 2 probes') ? true : undefined;
      }, 60_000, 50);
      // bpftrace prints "Attaching" before the probes are live; give it the attach itself.
      await new Promise((r) => setTimeout(r, 1000));
      return {
        pid: bt.child.pid!,
        async stop() {
          await bt.stop('SIGINT');
          const m = /@requests: (\d+)/.exec(bt.output());
          if (!m || Number(m[1]) === 0) throw new Error(`bpftrace timed no request:\n${bt.output()}`);
        },
      };
    },
  },
  {
    name: 'promhttp',
    fixture: 'httpserver-promhttp',
    collector: 'a Prometheus server scraping /metrics every 15 s',
    async start(fixture) {
      const server = await startPrometheus({ nativeHistograms: false, scrape: { job: 'bench', targets: [new URL(fixture.url).host], interval: '15s' } });
      return {
        pid: server.pid,
        async stop() {
          // Its first scrape falls anywhere in the first 15 s: wait for one, so a round whose
          // collector never collected cannot pass.
          try {
            await waitFor(`Prometheus to scrape ${fixture.url}`, async () => {
              const res = await fetch(`${server.url}/api/v1/query?query=${encodeURIComponent('http_requests_total{job="bench"}')}`);
              const body = (await res.json()) as { data: { result: unknown[] } };
              return body.data.result.length ? true : undefined;
            }, 30_000, 500);
          } finally {
            await server.stop();
          }
        },
      };
    },
  },
];

/** Resident memory of a process, from /proc/PID/status (kernel memory such as BPF maps is not in it). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
