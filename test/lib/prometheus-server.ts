// A real Prometheus server for tests: Debian's `prometheus` (2.42 on Debian 12) on a free loopback
// port with a temporary TSDB, its remote-write receiver on, native histograms enabled, and an
// out-of-order window wide enough for the suites' backdated points.

import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, manage, tempDir, waitFor, type Managed } from './processes.ts';

export interface PrometheusServer {
  /** Base URL: the query API is under `${url}/api/v1/`. */
  url: string;
  /** The remote-write receiver (`/api/v1/write`). */
  remoteWriteUrl: string;
  version: string;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

export interface PrometheusServerOptions {
  /**
   * How far behind the newest sample a sample may be and still be stored (Prometheus duration).
   * The suites write points a month older than their newest, so the default covers 60 days.
   */
  outOfOrderWindow?: string | null;
  /** `--enable-feature=native-histograms` (default true). */
  nativeHistograms?: boolean;
  /** One scrape job (the benchmarks' in-process peer); by default nothing is scraped. `timeout` must not exceed `interval` (default 10s). */
  scrape?: { job: string; targets: string[]; interval: string; timeout?: string };
  /** Forward everything stored to a remote-write receiver with a bearer key, in batches sent at most `deadline` apart. */
  remoteWrite?: { url: string; bearerToken: string; deadline: string };
  /** Rule files to load, and how often their groups run (`global.evaluation_interval`). */
  rules?: { files: string[]; evaluationInterval: string };
  /** A TSDB directory to start from (blocks made by `promtool tsdb create-blocks-from`); left in place at stop. */
  dataDir?: string;
}

export async function startPrometheus(opts: PrometheusServerOptions = {}): Promise<PrometheusServer> {
  const dir = tempDir('burnwatch-prometheus');
  const config = path.join(dir, 'prometheus.yml');
  // No scrape jobs unless asked: the suites' data arrives by remote write.
  const scrape = opts.scrape
    ? `scrape_configs:\n  - job_name: ${JSON.stringify(opts.scrape.job)}\n    scrape_interval: ${opts.scrape.interval}\n${opts.scrape.timeout ? `    scrape_timeout: ${opts.scrape.timeout}\n` : ''}    static_configs:\n      - targets: ${JSON.stringify(opts.scrape.targets)}\n`
    : '';
  const remoteWrite = opts.remoteWrite
    ? `remote_write:\n  - url: ${JSON.stringify(opts.remoteWrite.url)}\n    authorization:\n      credentials: ${JSON.stringify(opts.remoteWrite.bearerToken)}\n    queue_config:\n      batch_send_deadline: ${opts.remoteWrite.deadline}\n      min_backoff: 100ms\n`
    : '';
  // null: Prometheus's own default (out-of-order samples refused), as a benchmark's peer runs.
  const storage = opts.outOfOrderWindow === null ? '' : `storage:\n  tsdb:\n    out_of_order_time_window: ${opts.outOfOrderWindow ?? '60d'}\n`;
  const rules = opts.rules
    ? `global:\n  evaluation_interval: ${opts.rules.evaluationInterval}\nrule_files: ${JSON.stringify(opts.rules.files)}\n`
    : '';
  writeFileSync(config, `${rules}${storage}${scrape}${remoteWrite}`);
  const port = await freePort();
  const child: Managed = manage(
    spawn(
      'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${opts.dataDir ?? path.join(dir, 'data')}`,
        // Points carry their own (backdated) times: size-free retention far beyond any test's range.
        '--storage.tsdb.retention.time=100y',
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-remote-write-receiver',
        ...(opts.nativeHistograms === false ? [] : ['--enable-feature=native-histograms']),
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  const url = `http://127.0.0.1:${port}`;
  // A test process that ends without stop() (a crash, the runner's force exit) must not leave
  // the server running: it would outlive every test run on a shared machine.
  const killOnExit = () => child.child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await waitFor('Prometheus to be ready', async () => {
      if (child.child.exitCode !== null) throw new Error(`prometheus exited with ${child.child.exitCode}: ${child.output()}`);
      const res = await fetch(`${url}/-/ready`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, 60_000, 100);
  } catch (err) {
    process.off('exit', killOnExit);
    await child.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const info = (await (await fetch(`${url}/api/v1/status/buildinfo`)).json()) as { data: { version: string } };
  return {
    url,
    remoteWriteUrl: `${url}/api/v1/write`,
    version: info.data.version,
    pid: child.child.pid!,
    output: () => child.output(),
    async stop() {
      process.off('exit', killOnExit);
      await child.stop('SIGTERM', 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
