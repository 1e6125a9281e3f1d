// The Go topology fixture on loopback: real PostgreSQL, Redis and etcd servers in temp
// dirs, the topo-backend (gRPC server → lib/pq, redigo, etcd client; HTTP /ping, and
// /redis5 → go-redis v5) and the topo-frontend (HTTP server → gRPC client, HTTP client).
// Started once per test file.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, manage, tempDir, waitFor, type Managed } from './processes.ts';
import { buildGoFixture } from '../helpers/go.ts';

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Everything optional: the defaults are what the instrumentation tests use. */
export interface TopologyOptions {
  /** OTEL_SERVICE_NAME of each tier (default topo-frontend / topo-backend). */
  frontendService?: string;
  backendService?: string;
  /** The port the backend dials for Redis, given Redis's own (e.g. a proxy in between). */
  redisPortFor?: (redisPort: number) => Promise<number> | number;
  /** More backend flags (e.g. -data-dir). */
  backendArgs?: readonly string[];
  /** Build both tiers with `-buildmode=pie` (position-independent executables). */
  pie?: boolean;
  /** Called with each backend process as soon as it is spawned (e.g. to move it into a cgroup). */
  onBackendSpawn?: (pid: number) => void;
}

export interface Topology {
  pgPort: number;
  redisPort: number;
  etcdPort: number;
  backend: Managed;
  backendGrpcPort: number;
  backendHttpPort: number;
  frontend: Managed;
  frontendPort: number;
  /** The frontend's executable, for starting more processes of the same binary. */
  frontendBin: string;
  backendBin: string;
  frontendService: string;
  backendService: string;
  /** Starts a backend again on the same ports (after a crash, or as a deploy of another binary); `backend` becomes it. */
  restartBackend(bin?: string): Promise<Managed>;
  stop(): Promise<void>;
}

async function readPorts(file: string, n: number): Promise<number[]> {
  return waitFor(`ports in ${file}`, () => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
    const ports = text.split(/\s+/).filter(Boolean).map(Number);
    return ports.length === n ? ports : undefined;
  });
}

/**
 * A PostgreSQL server in dir/pg; with `password`, user postgres must authenticate (SCRAM) instead
 * of being trusted; `settings` are more `-c name=value` server settings (e.g. ssl=on).
 */
export async function startPostgres(dir: string, opts: { password?: string; settings?: readonly string[] } = {}): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const data = path.join(dir, 'pg');
  fs.mkdirSync(data);
  // initdb and postgres refuse to run as root.
  const asPg = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  if (asPg.length) fs.chownSync(data, Number((await run('id', ['-u', 'postgres'])).stdout), Number((await run('id', ['-g', 'postgres'])).stdout));
  const cmd = (bin: string, args: string[]) => (asPg.length ? run(asPg[0], [...asPg.slice(1), path.join(PG_BIN, bin), ...args]) : run(path.join(PG_BIN, bin), args));
  const auth = ['-A', 'trust'];
  if (opts.password !== undefined) {
    const pwfile = path.join(dir, 'pg.pw');
    fs.writeFileSync(pwfile, `${opts.password}\n`, { mode: 0o644 });
    auth.splice(0, 2, '-A', 'scram-sha-256', '--pwfile', pwfile);
  }
  await cmd('initdb', ['-D', data, ...auth, '-U', 'postgres', '--no-sync']);
  const settings = (opts.settings ?? []).map((kv) => ` -c ${kv}`).join('');
  await cmd('pg_ctl', ['-D', data, '-w', '-l', path.join(data, 'log'), '-o', `-p ${port} -k ${data} -c listen_addresses=127.0.0.1 -c fsync=off${settings}`, 'start']);
  return {
    port,
    stop: async () => {
      await cmd('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
    },
  };
}

async function waitTcp(what: string, port: number): Promise<void> {
  const net = await import('node:net');
  await waitFor(what, () =>
    new Promise<true | undefined>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(undefined));
    }),
  );
}

export async function startTopology(opts: TopologyOptions = {}): Promise<Topology> {
  const frontendService = opts.frontendService ?? 'topo-frontend';
  const backendService = opts.backendService ?? 'topo-backend';
  const dir = tempDir('burnwatch-topo');
  fs.chmodSync(dir, 0o755);
  const [backendBin, frontendBin] = await Promise.all([buildGoFixture('topo-backend', { pie: opts.pie }), buildGoFixture('topo-frontend', { pie: opts.pie })]);
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const pg = await startPostgres(dir);
    stops.push(pg.stop);

    const redisPort = await freePort();
    const redis = manage(
      spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    stops.push(() => redis.stop());
    const etcdPort = await freePort();
    const etcdPeer = await freePort();
    const etcd = manage(
      spawn(
        'etcd',
        [
          '--data-dir', path.join(dir, 'etcd'),
          '--listen-client-urls', `http://127.0.0.1:${etcdPort}`, '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
          '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
          '--initial-cluster', `default=http://127.0.0.1:${etcdPeer}`, '--log-level', 'error',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    stops.push(() => etcd.stop());
    await Promise.all([waitTcp('redis', redisPort), waitTcp('etcd', etcdPort)]);

    const backendPorts = path.join(dir, 'backend.ports');
    const backendRedisPort = opts.redisPortFor ? await opts.redisPortFor(redisPort) : redisPort;
    const spawnBackend = (bin: string, listen: string[]) => {
      fs.rmSync(backendPorts, { force: true });
      const m = manage(
        spawn(
          bin,
          [
            '-port-file', backendPorts,
            '-pg', `postgres://postgres@127.0.0.1:${pg.port}/postgres?sslmode=disable`,
            '-redis', `127.0.0.1:${backendRedisPort}`,
            '-etcd', `127.0.0.1:${etcdPort}`,
            ...listen,
            ...(opts.backendArgs ?? []),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OTEL_SERVICE_NAME: backendService } },
        ),
      );
      opts.onBackendSpawn?.(m.child.pid!);
      return m;
    };
    let backend = spawnBackend(backendBin, []);
    stops.push(() => backend.stop());
    const [backendGrpcPort, backendHttpPort] = await readPorts(backendPorts, 2);

    const frontendPorts = path.join(dir, 'frontend.ports');
    const frontend = manage(
      spawn(
        frontendBin,
        ['-port-file', frontendPorts, '-backend-grpc', `127.0.0.1:${backendGrpcPort}`, '-backend-http', `127.0.0.1:${backendHttpPort}`],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OTEL_SERVICE_NAME: frontendService } },
      ),
    );
    stops.push(() => frontend.stop());
    const [frontendPort] = await readPorts(frontendPorts, 1);

    const topology: Topology = {
      pgPort: pg.port,
      redisPort,
      etcdPort,
      backend,
      backendGrpcPort,
      backendHttpPort,
      frontend,
      frontendPort,
      frontendBin,
      backendBin,
      frontendService,
      backendService,
      async restartBackend(bin = backendBin) {
        await backend.stop();
        // The same ports: the frontend's gRPC and HTTP clients reconnect to the new process.
        const listen = ['-grpc', `127.0.0.1:${backendGrpcPort}`, '-http', `127.0.0.1:${backendHttpPort}`];
        backend = spawnBackend(bin, listen);
        topology.backend = backend;
        await waitFor('the restarted backend to listen', async () => {
          if (backend.child.exitCode !== null) throw new Error(`backend exited: ${backend.output()}`);
          return fs.existsSync(backendPorts) && fs.readFileSync(backendPorts, 'utf8').trim() ? true : undefined;
        });
        return backend;
      },
      async stop() {
        for (const s of stops.reverse()) await s().catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
    return topology;
  } catch (err) {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** GET http://127.0.0.1:port/path; resolves with the status (the body is drained). */
export async function get(port: number, pathAndQuery: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`);
  await res.arrayBuffer();
  return res.status;
}
