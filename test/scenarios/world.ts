// One scenario's world, all real: a gateway with its DuckDB files, the agent with every
// collector, and the Go topology (frontend → backend → PostgreSQL, Redis through a proxy,
// etcd) under random service names, with a supervisor that restarts the backend 3 s after it
// dies (as systemd or a kubelet would). The agent starts first so it sees every connection open.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from '../../agent/agent.ts';
import type { HintsReport } from '../../lambda/hints/types.ts';
import { LOCAL_TENANT, startGateway, type RunningGateway } from '../../lambda/local/server.ts';
import { startTopology, type Topology } from '../lib/go-topology.ts';
import { getJson, tempDir, waitFor } from '../lib/processes.ts';
import { DelayProxy } from './faults.ts';
import type { Cast } from './scenarios.ts';

const KEY = `scenario-${randomBytes(12).toString('hex')}`;
/** As a restart policy waits before starting a dead service again (systemd RestartSec, a pod's back-off). */
const RESTART_DELAY_MS = 3_000;

export interface WorldOptions {
  /** More backend flags. */
  backendArgs?: readonly string[];
  /** Each backend process as it is spawned, before it serves (cgroups, pinning). */
  onBackendSpawn?: (pid: number) => void;
  log?: (line: string) => void;
  /** Keep the gateway's data here (for replaying the engine over it later) instead of a temp dir. */
  dataDir?: string;
}

export interface World {
  gateway: RunningGateway;
  agent: Agent;
  topo: Topology;
  redisProxy: DelayProxy;
  frontend: string;
  backend: string;
  /** Backend restarts the supervisor made after the backend died on its own. */
  restarts: number;
  cast(): Cast;
  hints(service: string, fromMs: number, toMs: number): Promise<HintsReport>;
  stop(): Promise<void>;
}

/** A name nothing can key on: a different one every run. */
export function randomServiceName(): string {
  const words = ['amber', 'birch', 'cedar', 'delta', 'ember', 'fjord', 'grove', 'heron', 'iris', 'jade', 'kite', 'lumen'];
  const pick = () => words[randomBytes(1)[0] % words.length];
  return `${pick()}-${pick()}-${randomBytes(2).toString('hex')}`;
}

export async function startWorld(opts: WorldOptions = {}): Promise<World> {
  const log = opts.log ?? (() => undefined);
  const dataDir = opts.dataDir ?? tempDir('bw-scenario-gw');
  const spoolDir = tempDir('bw-scenario-spool');
  const gateway = await startGateway({ port: 0, dataDir, apiKeys: { [KEY]: LOCAL_TENANT }, log: () => undefined });
  // Deep probes always: this world runs no SLO evaluation (nothing would turn adaptive probing
  // on), and the hints compare the fault with a baseline of per-dependency calls.
  const agent = new Agent({ endpoint: gateway.url, apiKey: KEY, spoolDir, intervalMs: 10_000, discoveryIntervalMs: 500, probes: 'always', log: (l) => log(`[agent] ${l}`) });
  let redisProxy: DelayProxy | undefined;
  let topo: Topology | undefined;
  const cleanup = async () => {
    await topo?.stop();
    await redisProxy?.close();
    await agent.stop(2_000).catch(() => undefined);
    await gateway.close();
    for (const d of opts.dataDir ? [spoolDir] : [dataDir, spoolDir]) fs.rmSync(d, { recursive: true, force: true });
  };
  try {
    await agent.start();
    const frontend = randomServiceName();
    const backend = randomServiceName();
    const proxyName = randomServiceName();
    topo = await startTopology({
      frontendService: frontend,
      backendService: backend,
      redisPortFor: async (port) => (redisProxy = await DelayProxy.start(port, proxyName)).port,
      backendArgs: opts.backendArgs,
      onBackendSpawn: opts.onBackendSpawn,
    });
    const t = topo;
    for (const pid of [t.frontend.child.pid!, t.backend.child.pid!]) {
      await waitFor(`the agent to watch pid ${pid}`, () => (agent.services().has(pid) ? true : undefined), 30_000, 100);
    }
    let stopping = false;
    const world: World = {
      gateway,
      agent,
      topo: t,
      redisProxy: redisProxy!,
      frontend,
      backend,
      restarts: 0,
      cast: () => ({
        frontend, backend, redisProxy: proxyName, redisProxyPort: redisProxy!.port, redisPort: t.redisPort, pgPort: t.pgPort, etcdPort: t.etcdPort,
        backendGrpcPort: t.backendGrpcPort, backendHttpPort: t.backendHttpPort,
      }),
      async hints(service, fromMs, toMs) {
        const r = await getJson(`${gateway.url}/v1/hints?service=${encodeURIComponent(service)}&from=${fromMs / 1000}&to=${toMs / 1000}`, KEY);
        if (r.status !== 200) throw new Error(`GET /v1/hints answered ${r.status}: ${JSON.stringify(r.body)}`);
        return r.body as HintsReport;
      },
      async stop() {
        stopping = true;
        await cleanup();
      },
    };
    // Restart=always: a backend that died (OOM kill, crash) comes back on the same ports.
    const restart = t.restartBackend.bind(t);
    let deliberate = false;
    const supervise = (m = t.backend) =>
      m.child.once('exit', () => {
        if (stopping || deliberate || t.backend !== m) return;
        world.restarts++;
        log(`backend pid ${m.child.pid} died; restarting in ${RESTART_DELAY_MS} ms`);
        void sleep(RESTART_DELAY_MS)
          .then(() => (stopping ? undefined : restart()))
          .then((next) => next && supervise(next), (err) => log(`backend restart failed: ${(err as Error).message}`));
      });
    supervise();
    // A deliberate restart (a deploy) is not a death, and the new process is supervised too.
    t.restartBackend = async (bin) => {
      deliberate = true;
      try {
        const next = await restart(bin);
        supervise(next);
        return next;
      } finally {
        deliberate = false;
      }
    };
    return world;
  } catch (err) {
    await cleanup();
    throw err;
  }
}
