// Per-request cost of each peer on a Go service (issue 21 item 1). The fixture is pinned to CPU 0
// with GOMAXPROCS=1, the load generators to CPU 1. Each round runs every peer once, the order
// rotated a step per round; each peer gets a fresh fixture and collector. Within a round:
// closed-loop throughput (wrk, 32 connections), then a fixed-rate run (test/fixtures/go/fixedrate,
// open loop, latency from when each request was due) at a quarter of the bare service's throughput,
// during which the service's and the collector's CPU are read from /proc.
import { CONNECTIONS, ROUNDS, RUN_SECONDS, cpuSeconds, fixedRate, startBenchGateway, startPinnedFixture, wrk } from './lib.ts';
import { median, spread } from './stats.ts';
import { PEERS, rssMiB, type Peer } from './peers-collectors.ts';

const FIXED_CONNECTIONS = 16;

interface Round {
  rps: number;
  p50Us: number;
  p99Us: number;
  serviceCpuUs: number;
  collectorCpuUs: number;
  collectorRssMiB: number;
}

async function round(peer: Peer, route: string, rate: number, gatewayUrl: string): Promise<Round> {
  const fixture = await startPinnedFixture(peer.fixture);
  let collector;
  try {
    collector = await peer.start(fixture, gatewayUrl);
    const url = fixture.url + route;
    wrk(url, 1); // warm-up: connections, Go's scheduler
    const rps = wrk(url).requestsPerSecond;
    const service0 = cpuSeconds(fixture.pid);
    const collector0 = collector ? cpuSeconds(collector.pid) : 0;
    const fixed = fixedRate(url, rate, RUN_SECONDS, FIXED_CONNECTIONS);
    const serviceCpuUs = ((cpuSeconds(fixture.pid) - service0) / fixed.requests) * 1e6;
    const collectorCpuUs = collector ? ((cpuSeconds(collector.pid) - collector0) / fixed.requests) * 1e6 : 0;
    const collectorRssMiB = collector ? rssMiB(collector.pid) : 0;
    return { rps, p50Us: fixed.p50_us, p99Us: fixed.p99_us, serviceCpuUs, collectorCpuUs, collectorRssMiB };
  } finally {
    await collector?.stop();
    await fixture.stop();
  }
}

export async function run(): Promise<string[]> {
  const { endpoint, gateway } = await startBenchGateway();
  const lines = [
    `Go 1.19 net/http fixture on CPU 0 (GOMAXPROCS=1); wrk -t1 -c${CONNECTIONS} -d${RUN_SECONDS}s and fixedrate -conns ${FIXED_CONNECTIONS} -duration ${RUN_SECONDS}s on CPU 1; ${ROUNDS} rounds, peer order rotated; median (min–max)`,
    'peers: route | peer | throughput req/s | ratio vs none | fixed-rate req/s | p50 µs | p99 µs | +p50 µs | +p99 µs | service CPU µs/req | collector CPU µs/req | collector RSS MiB',
  ];
  try {
    for (const route of ['/hello', '/work']) {
      const calibration = await startPinnedFixture('httpserver');
      let rate: number;
      try {
        wrk(calibration.url + route, 1);
        // A quarter of what the bare service sustains: loaded but below every peer's saturation
        // (bpftrace's uprobes halve the hello-world throughput), so latency compares like for like.
        rate = Math.max(100, Math.round(wrk(calibration.url + route).requestsPerSecond / 4 / 100) * 100);
      } finally {
        await calibration.stop();
      }
      const rounds = new Map<string, Round[]>(PEERS.map((p) => [p.name, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < PEERS.length; i++) {
          const peer = PEERS[(i + r) % PEERS.length];
          const result = await round(peer, route, rate, endpoint);
          rounds.get(peer.name)!.push(result);
          console.log(`  ${route} round ${r + 1} ${peer.name}: ${result.rps.toFixed(0)} req/s closed loop; at ${rate}/s p50 ${result.p50Us.toFixed(0)} µs p99 ${result.p99Us.toFixed(0)} µs, service ${result.serviceCpuUs.toFixed(1)} µs CPU/req, collector ${result.collectorCpuUs.toFixed(1)} µs CPU/req ${result.collectorRssMiB.toFixed(0)} MiB`);
        }
      }
      const none = rounds.get('none')!;
      const noneRps = median(none.map((x) => x.rps));
      const noneP50 = median(none.map((x) => x.p50Us));
      const noneP99 = median(none.map((x) => x.p99Us));
      for (const peer of PEERS) {
        const rs = rounds.get(peer.name)!;
        const line = [
          route,
          peer.name,
          spread(rs.map((x) => x.rps), 0),
          (median(rs.map((x) => x.rps)) / noneRps).toFixed(3),
          String(rate),
          spread(rs.map((x) => x.p50Us), 0),
          spread(rs.map((x) => x.p99Us), 0),
          (median(rs.map((x) => x.p50Us)) - noneP50).toFixed(0),
          (median(rs.map((x) => x.p99Us)) - noneP99).toFixed(0),
          spread(rs.map((x) => x.serviceCpuUs), 1),
          peer.name === 'none' ? '—' : spread(rs.map((x) => x.collectorCpuUs), 1),
          peer.name === 'none' ? '—' : spread(rs.map((x) => x.collectorRssMiB), 0),
        ].join(' | ');
        lines.push(`peers: ${line}`);
        console.log(`peers: ${line}`);
      }
    }
  } finally {
    await gateway.stop();
  }
  return lines;
}
