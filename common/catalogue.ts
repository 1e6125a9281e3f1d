// The metric catalogue: the one place that names what burnwatch measures. Agent,
// gateway, query engine and docs read it; names follow OpenTelemetry semantic
// conventions where one exists, and burnwatch-specific signals use the `burnwatch.` prefix.

export type InstrumentKind = 'exponential_histogram' | 'counter' | 'gauge';

export interface MetricDescriptor {
  name: string;
  unit: string;
  kind: InstrumentKind;
  description: string;
  /** Attributes a data point of this metric may carry. */
  attributes: readonly string[];
}

export const HTTP_SERVER_DURATION = 'http.server.request.duration';

export const ATTR = {
  httpMethod: 'http.request.method',
  httpRoute: 'http.route',
  httpStatus: 'http.response.status_code',
  serviceName: 'service.name',
  hostName: 'host.name',
  processPid: 'process.pid',
  executablePath: 'process.executable.path',
  executableName: 'process.executable.name',
  buildId: 'process.executable.build_id',
  containerId: 'container.id',
} as const;

// The agent's self-metrics (burnwatch.agent.*): what the export path sent, retried, rejected and dropped.
export const AGENT_METRIC = {
  sentBatches: 'burnwatch.agent.export.sent_batches',
  rejectedBatches: 'burnwatch.agent.export.rejected_batches',
  warnedBatches: 'burnwatch.agent.export.warned_batches',
  retries: 'burnwatch.agent.export.retries',
  droppedBatches: 'burnwatch.agent.spool.dropped_batches',
  droppedBytes: 'burnwatch.agent.spool.dropped_bytes',
  spoolBatches: 'burnwatch.agent.spool.batches',
  spoolBytes: 'burnwatch.agent.spool.bytes',
  probeDrops: 'burnwatch.agent.probe.drops',
  exportFailures: 'burnwatch.agent.export.failures',
  probesDeep: 'burnwatch.agent.probes.deep',
} as const;

export const AGENT_ATTR = {
  /** Why spooled data was lost: 'size' or 'age' (a spool bound), 'disk_full' (no room on the spool's disk), or 'corrupt' (unreadable on disk). */
  dropReason: 'burnwatch.drop.reason',
  /** Which collector (signal) a probe-side drop happened in, e.g. 'http-server'. */
  collector: 'burnwatch.collector',
  /** Which step of the agent's export failed: 'collect', 'slow_requests', 'spool_metrics', 'spool_traces'. */
  exportStep: 'burnwatch.export.step',
  /** The service whose process a deep-probe state is about (the point's own service.name is the agent's). */
  probeService: 'burnwatch.probe.service',
  /** Why its deep probes are on: 'always', 'alert', 'cooldown' or 'manual'. */
  probeReason: 'burnwatch.probe.reason',
  /** The agent's --probes mode: 'always', 'adaptive' or 'minimal'. */
  probeMode: 'burnwatch.probe.mode',
  /** How the process's own HTTP server requests are measured outside its deep probes: 'uprobes' or 'syscalls'. */
  probeServerRed: 'burnwatch.probe.server_red',
} as const;

// ---- Kernel signals for root causes (issue 4): bpf/{tcp,sched,memory,block,lifecycle}.bpf.c,
// agent/collectors/{tcp,sched,memory,block,lifecycle}.ts. Per process (the resource), per peer
// or device where it applies. ----
export const KERNEL_METRIC = {
  tcpRetransmits: 'burnwatch.tcp.retransmits',
  tcpResets: 'burnwatch.tcp.resets',
  tcpConnectDuration: 'burnwatch.tcp.connect.duration',
  tcpConnectFailures: 'burnwatch.tcp.connect.failures',
  tcpSmoothedRtt: 'burnwatch.tcp.smoothed_rtt',
  runqueueLatency: 'burnwatch.sched.runqueue.latency',
  cpuTime: 'burnwatch.cpu.time',
  pageFaults: 'burnwatch.page_faults',
  oomKills: 'burnwatch.oom.kills',
  blockIoDuration: 'burnwatch.block.io.duration',
  blockIoErrors: 'burnwatch.block.io.errors',
  processStarts: 'burnwatch.process.starts',
  processExits: 'burnwatch.process.exits',
  futexWait: 'burnwatch.futex.wait',
} as const;

export const KERNEL_ATTR = {
  serverAddress: 'server.address',
  serverPort: 'server.port',
  /** The remote end of a connection this process accepted (then server.port is the local port). */
  clientAddress: 'client.address',
  /** 'sent' or 'received'. */
  resetDirection: 'burnwatch.tcp.reset.direction',
  /** 'major' or 'minor'. */
  faultType: 'burnwatch.fault.type',
  /** Kernel device name, e.g. 'vda', 'nvme0n1'. */
  blockDevice: 'burnwatch.block.device',
  /** 'read', 'write', 'flush', 'discard' or 'other'. */
  blockOperation: 'burnwatch.block.operation',
  processPid: 'process.pid',
  /** The kernel's comm (15 characters at most). */
  processCommand: 'process.command',
  buildId: 'process.executable.build_id',
  executableName: 'process.executable.name',
  exitCode: 'process.exit.code',
  /** Name of the signal that ended the process, e.g. 'SIGKILL'; absent for a normal exit. */
  exitSignal: 'burnwatch.exit.signal',
  /** The memory cgroup's path, e.g. '/system.slice/x.service'. */
  cgroupPath: 'burnwatch.cgroup.path',
  /** The futex wait operation: 'wait' (FUTEX_WAIT, WAIT_BITSET, WAIT_REQUEUE_PI) or 'lock_pi' (LOCK_PI, LOCK_PI2). */
  futexOp: 'burnwatch.futex.op',
} as const;

const TCP_PEER_ATTRS = [KERNEL_ATTR.serverAddress, KERNEL_ATTR.serverPort, KERNEL_ATTR.clientAddress] as const;

const KERNEL_METRICS: Record<string, MetricDescriptor> = {
  [KERNEL_METRIC.tcpRetransmits]: {
    name: KERNEL_METRIC.tcpRetransmits,
    unit: '{segment}',
    kind: 'counter',
    description: 'TCP segments retransmitted on connections of the process, per peer (tcp:tcp_retransmit_skb).',
    attributes: TCP_PEER_ATTRS,
  },
  [KERNEL_METRIC.tcpResets]: {
    name: KERNEL_METRIC.tcpResets,
    unit: '{segment}',
    kind: 'counter',
    description: 'TCP resets sent or received on connections of the process, per peer (tcp:tcp_send_reset, tcp:tcp_receive_reset).',
    attributes: [...TCP_PEER_ATTRS, KERNEL_ATTR.resetDirection],
  },
  [KERNEL_METRIC.tcpConnectDuration]: {
    name: KERNEL_METRIC.tcpConnectDuration,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Time from SYN sent to ESTABLISHED of outbound TCP connections, per peer (sock:inet_sock_set_state).',
    attributes: [KERNEL_ATTR.serverAddress, KERNEL_ATTR.serverPort],
  },
  [KERNEL_METRIC.tcpConnectFailures]: {
    name: KERNEL_METRIC.tcpConnectFailures,
    unit: '{connection}',
    kind: 'counter',
    description: 'Outbound TCP connections that went from SYN sent to closed without being established (refused, timed out), per peer.',
    attributes: [KERNEL_ATTR.serverAddress, KERNEL_ATTR.serverPort],
  },
  [KERNEL_METRIC.tcpSmoothedRtt]: {
    name: KERNEL_METRIC.tcpSmoothedRtt,
    unit: 's',
    kind: 'exponential_histogram',
    description: "The kernel's smoothed RTT (srtt) of the process's connections to a peer, sampled when a connection is accepted (so a long-lived connection names its listener at once), at each retransmit and when it closes.",
    attributes: TCP_PEER_ATTRS,
  },
  [KERNEL_METRIC.runqueueLatency]: {
    name: KERNEL_METRIC.runqueueLatency,
    unit: 's',
    kind: 'exponential_histogram',
    description: "Time the process's threads waited runnable for a CPU (wakeup or preemption to running; sched:sched_wakeup*, sched:sched_switch).",
    attributes: [],
  },
  [KERNEL_METRIC.cpuTime]: {
    name: KERNEL_METRIC.cpuTime,
    unit: 'ns',
    kind: 'counter',
    description: "Time the process's threads ran on a CPU, from context switches (sched:sched_switch).",
    attributes: [],
  },
  [KERNEL_METRIC.pageFaults]: {
    name: KERNEL_METRIC.pageFaults,
    unit: '{fault}',
    kind: 'counter',
    description: "Page faults of the process: major (needed I/O) or minor (exceptions:page_fault_user, classified by the kernel's own per-task counts).",
    attributes: [KERNEL_ATTR.faultType],
  },
  [KERNEL_METRIC.oomKills]: {
    name: KERNEL_METRIC.oomKills,
    unit: '{process}',
    kind: 'counter',
    description: 'Processes the OOM killer chose as victim (oom:mark_victim), with the victim and its memory cgroup.',
    attributes: [KERNEL_ATTR.processPid, KERNEL_ATTR.processCommand, KERNEL_ATTR.cgroupPath],
  },
  [KERNEL_METRIC.blockIoDuration]: {
    name: KERNEL_METRIC.blockIoDuration,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Block I/O latency from issue to the device to completion, per device and issuing process (block:block_rq_issue, block:block_rq_complete).',
    attributes: [KERNEL_ATTR.blockDevice, KERNEL_ATTR.blockOperation],
  },
  [KERNEL_METRIC.blockIoErrors]: {
    name: KERNEL_METRIC.blockIoErrors,
    unit: '{request}',
    kind: 'counter',
    description: 'Block I/O requests that completed with an error, per device and issuing process.',
    attributes: [KERNEL_ATTR.blockDevice, KERNEL_ATTR.blockOperation],
  },
  [KERNEL_METRIC.processStarts]: {
    name: KERNEL_METRIC.processStarts,
    unit: '{process}',
    kind: 'counter',
    description: "Executions of a program (sched:sched_process_exec), with the executable's build id read at exec: a new build id is a deploy.",
    attributes: [KERNEL_ATTR.buildId, KERNEL_ATTR.executableName],
  },
  [KERNEL_METRIC.processExits]: {
    name: KERNEL_METRIC.processExits,
    unit: '{process}',
    kind: 'counter',
    description: 'Processes that ended (sched:sched_process_exit, last thread), with exit code or killing signal: repeated exits are a crash loop.',
    attributes: [KERNEL_ATTR.buildId, KERNEL_ATTR.executableName, KERNEL_ATTR.exitCode, KERNEL_ATTR.exitSignal],
  },
  [KERNEL_METRIC.futexWait]: {
    name: KERNEL_METRIC.futexWait,
    unit: 's',
    kind: 'exponential_histogram',
    description:
      "Time the process's threads slept in futex waits (syscalls:sys_enter_futex/sys_exit_futex, any language): contended pthread mutexes and Python locks, but also idle threads on condition variables, so a change against the baseline is the signal, not the level.",
    attributes: [KERNEL_ATTR.futexOp],
  },
};

// ---- Go client calls, gRPC, runtime (issue 3): bpf/go_calls.bpf.c, agent/collectors/go-calls.ts.
// RPC durations use the current semantic-convention names (`rpc.{server,client}.call.duration`,
// seconds), which replaced `rpc.{server,client}.duration` (milliseconds); Redis is a database
// client in the conventions, so its commands are `db.client.operation.duration` with db.system=redis. ----
export const GO_METRIC = {
  rpcServerDuration: 'rpc.server.call.duration',
  rpcClientDuration: 'rpc.client.call.duration',
  httpClientDuration: 'http.client.request.duration',
  dbClientDuration: 'db.client.operation.duration',
  gcPause: 'burnwatch.go.gc.pause',
  gcCycles: 'burnwatch.go.gc.cycles',
  goroutines: 'go.goroutine.count',
  // issue 22: bpf/go_waits.bpf.c, agent/collectors/go-waits.ts
  lockWait: 'burnwatch.go.lock.wait',
  gcAssist: 'burnwatch.go.gc.assist',
} as const;

export const GO_ATTR = {
  rpcSystem: 'rpc.system',
  rpcService: 'rpc.service',
  rpcMethod: 'rpc.method',
  rpcGrpcStatus: 'rpc.grpc.status_code',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  dbSystem: 'db.system',
  dbOperation: 'db.operation.name',
  errorType: 'error.type',
  gcPhase: 'burnwatch.go.gc.phase',
  /** The function that waited (OpenTelemetry's code.function.name), e.g. "main.(*cache).get". */
  codeFunction: 'code.function.name',
} as const;

const PEER_ATTRS = [GO_ATTR.serverAddress, GO_ATTR.serverPort] as const;

export const GO_METRICS: Readonly<Record<string, MetricDescriptor>> = {
  [GO_METRIC.rpcServerDuration]: {
    name: GO_METRIC.rpcServerDuration,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Duration of gRPC server calls (unary and per stream), from handleStream to the status written.',
    attributes: [GO_ATTR.rpcSystem, GO_ATTR.rpcService, GO_ATTR.rpcMethod, GO_ATTR.rpcGrpcStatus],
  },
  [GO_METRIC.rpcClientDuration]: {
    name: GO_METRIC.rpcClientDuration,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Duration of gRPC client calls (grpc-go; etcd clients included), per peer.',
    attributes: [GO_ATTR.rpcSystem, GO_ATTR.rpcService, GO_ATTR.rpcMethod, GO_ATTR.rpcGrpcStatus, ...PEER_ATTRS],
  },
  [GO_METRIC.httpClientDuration]: {
    name: GO_METRIC.httpClientDuration,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Duration of outbound HTTP requests, per peer: Go net/http Transport.roundTrip (uprobes), or for any process from the write of the request line to the read of the response status line (or of a chunked body\'s last chunk; syscall tracepoints).',
    attributes: [ATTR.httpMethod, ATTR.httpStatus, GO_ATTR.errorType, ...PEER_ATTRS],
  },
  [GO_METRIC.dbClientDuration]: {
    name: GO_METRIC.dbClientDuration,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Duration of database operations: database/sql (any driver; db.system from the driver) and Redis commands; the operation word only, never the statement.',
    attributes: [GO_ATTR.dbSystem, GO_ATTR.dbOperation, GO_ATTR.errorType, ...PEER_ATTRS],
  },
  [GO_METRIC.gcPause]: {
    name: GO_METRIC.gcPause,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Go GC stop-the-world pauses per process (sweep termination and mark termination).',
    attributes: [GO_ATTR.gcPhase],
  },
  [GO_METRIC.gcCycles]: {
    name: GO_METRIC.gcCycles,
    unit: '{cycle}',
    kind: 'counter',
    description: 'Completed-start Go GC cycles per process (one sweep-termination pause each).',
    attributes: [],
  },
  [GO_METRIC.goroutines]: {
    name: GO_METRIC.goroutines,
    unit: '{goroutine}',
    kind: 'gauge',
    description: 'Live goroutines per process at the end of the interval (runtime and user goroutines; read from the process memory, no probe).',
    attributes: [],
  },
  [GO_METRIC.lockWait]: {
    name: GO_METRIC.lockWait,
    unit: 's',
    kind: 'exponential_histogram',
    description:
      'Time goroutines waited parked on a contended sync.Mutex or sync.RWMutex (read or write), per process and waiting function (the first caller outside package sync); uncontended acquisitions are not seen and cost nothing.',
    attributes: [GO_ATTR.codeFunction],
  },
  [GO_METRIC.gcAssist]: {
    name: GO_METRIC.gcAssist,
    unit: 's',
    kind: 'exponential_histogram',
    description:
      'Time allocating goroutines spent in GC assist (runtime.gcAssistAlloc: marking, or parked until background credit pays their debt), per process: allocation stalls that come before any stop-the-world pause shows.',
    attributes: [],
  },
};

// ---- Any language from syscall tracepoints (issue 20): bpf/l7_syscalls.bpf.c,
// agent/collectors/syscall-l7.ts. Parsed requests reuse the names above
// (http.server.request.duration, http.client.request.duration, db.client.operation.duration);
// connections whose bytes cannot or need not be parsed (TLS, HTTP/2) are only counted. ----
export const L7_METRIC = {
  unparsedConnections: 'burnwatch.l7.unparsed.connections',
  unparsedBytes: 'burnwatch.l7.unparsed.bytes',
} as const;

export const L7_ATTR = {
  /** 'tls' (a TLS record on the connection's first bytes) or 'http2' (the HTTP/2 client preface). */
  protocol: 'burnwatch.l7.protocol',
  /** 'server' (the process accepted the connection) or 'client' (it connected). */
  role: 'burnwatch.connection.role',
  /** 'receive' or 'transmit' (OpenTelemetry's network.io.direction). */
  ioDirection: 'network.io.direction',
} as const;

const L7_METRICS: Readonly<Record<string, MetricDescriptor>> = {
  [L7_METRIC.unparsedConnections]: {
    name: L7_METRIC.unparsedConnections,
    unit: '{connection}',
    kind: 'counter',
    description: 'TCP connections of the process recognised on their first bytes as TLS or HTTP/2 and therefore not parsed (syscall tracepoints cannot read TLS plaintext; Go TLS servers are measured by uprobes).',
    attributes: [L7_ATTR.protocol, L7_ATTR.role],
  },
  [L7_METRIC.unparsedBytes]: {
    name: L7_METRIC.unparsedBytes,
    unit: 'By',
    kind: 'counter',
    description: 'Bytes read and written on the TLS and HTTP/2 connections counted by burnwatch.l7.unparsed.connections (after their first read or write).',
    attributes: [L7_ATTR.protocol, L7_ATTR.role, L7_ATTR.ioDirection],
  },
};

export const METRICS: Readonly<Record<string, MetricDescriptor>> = {
  ...KERNEL_METRICS,
  ...GO_METRICS,
  ...L7_METRICS,
  [HTTP_SERVER_DURATION]: {
    name: HTTP_SERVER_DURATION,
    unit: 's',
    kind: 'exponential_histogram',
    description: 'Duration of HTTP server requests, measured in the kernel: for Go from handler entry to response finish (uprobes), for any other process from the read of the request line to the write of the response status line (or of a chunked body\'s last chunk; syscall tracepoints).',
    attributes: [ATTR.httpMethod, ATTR.httpRoute, ATTR.httpStatus],
  },

  // ---- The agent's own health (agent/export/self-metrics.ts), exported like any other data. ----
  [AGENT_METRIC.sentBatches]: {
    name: AGENT_METRIC.sentBatches,
    unit: '{batch}',
    kind: 'counter',
    description: 'OTLP batches the agent delivered (answered with a 2xx).',
    attributes: [],
  },
  [AGENT_METRIC.rejectedBatches]: {
    name: AGENT_METRIC.rejectedBatches,
    unit: '{batch}',
    kind: 'counter',
    description: 'OTLP batches the endpoint refused as bad input (4xx); set aside in the spool\'s rejected/ directory, not retried.',
    attributes: [],
  },
  [AGENT_METRIC.warnedBatches]: {
    name: AGENT_METRIC.warnedBatches,
    unit: '{batch}',
    kind: 'counter',
    description: 'OTLP batches delivered whole whose 2xx carried a warning (a partial success with no rejected point, e.g. points readable only later); the agent logs each kind of warning once per 5 minutes.',
    attributes: [],
  },
  [AGENT_METRIC.retries]: {
    name: AGENT_METRIC.retries,
    unit: '{request}',
    kind: 'counter',
    description: 'Export attempts that failed and were retried (network errors, timeouts, 5xx, 429).',
    attributes: [],
  },
  [AGENT_METRIC.droppedBatches]: {
    name: AGENT_METRIC.droppedBatches,
    unit: '{batch}',
    kind: 'counter',
    description: 'Spooled batches lost before delivery: pushed out by the size or age bound, or unreadable on disk.',
    attributes: [AGENT_ATTR.dropReason],
  },
  [AGENT_METRIC.droppedBytes]: {
    name: AGENT_METRIC.droppedBytes,
    unit: 'By',
    kind: 'counter',
    description: 'Compressed bytes of the spooled batches lost before delivery.',
    attributes: [AGENT_ATTR.dropReason],
  },
  [AGENT_METRIC.spoolBatches]: {
    name: AGENT_METRIC.spoolBatches,
    unit: '{batch}',
    kind: 'gauge',
    description: 'Batches waiting in the spool.',
    attributes: [],
  },
  [AGENT_METRIC.spoolBytes]: {
    name: AGENT_METRIC.spoolBytes,
    unit: 'By',
    kind: 'gauge',
    description: 'Compressed bytes waiting in the spool.',
    attributes: [],
  },
  [AGENT_METRIC.probeDrops]: {
    name: AGENT_METRIC.probeDrops,
    unit: '{event}',
    kind: 'counter',
    description:
      'Events a collector could not record in full: a bounded kernel map was full, user memory was unreadable, or a route went over the per-service cap (counted under its overflow route).',
    attributes: [AGENT_ATTR.collector, AGENT_ATTR.dropReason],
  },
  [AGENT_METRIC.exportFailures]: {
    name: AGENT_METRIC.exportFailures,
    unit: '{failure}',
    kind: 'counter',
    description:
      'Steps of an export interval that failed on their own (a collector, the slow-request spans, the metrics or the trace spool); the other steps of that interval still ran.',
    attributes: [AGENT_ATTR.exportStep, AGENT_ATTR.collector],
  },
  [AGENT_METRIC.probesDeep]: {
    name: AGENT_METRIC.probesDeep,
    unit: '{process}',
    kind: 'gauge',
    description:
      "Per watched Go process (process.pid, burnwatch.probe.service): 1 while its costly probes (client calls, SQL/Redis, lineage, slow breakdowns) are attached, 0 while only the always-on ones are; burnwatch.probe.reason says why they are on; burnwatch.probe.server_red says how its HTTP server requests are measured otherwise (Go uprobes, or syscalls for a plaintext HTTP/1-only binary).",
    attributes: [AGENT_ATTR.probeService, ATTR.processPid, AGENT_ATTR.probeReason, AGENT_ATTR.probeMode, AGENT_ATTR.probeServerRed],
  },
};

export function describeMetric(name: string): MetricDescriptor | undefined {
  return METRICS[name];
}
