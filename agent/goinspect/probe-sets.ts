/**
 * What each Go probe needs from a binary, declared as data. A new probe (gRPC, SQL, Redis)
 * is a new entry here — its functions and where to probe them, and the struct members its
 * BPF program reads — and `inspectGoBinary` resolves it like the others; the offsets table
 * generator measures its fields too.
 */
import type { EntryProbe } from './instructions.ts';
import type { OffsetSource } from './offsets.ts';

/** Probe the function's entry: the stack-check `jbe` when it has one, else +0. */
export interface EntryPointSpec {
  symbol: string;
  at: 'entry';
}

/** Probe every RET of the function (for calls with no cheaper exact end); never a kernel return probe. */
export interface ReturnsPointSpec {
  symbol: string;
  at: 'returns';
}

/**
 * Probe the `call` instructions in `symbol` that call `callee` ('calls'), or the instruction
 * after each ('after-calls': the callee has returned). A call is emulated by the kernel (cheap);
 * the instruction after one usually is not, so 'after-calls' costs what a RET probe costs.
 */
export interface CallSitesPointSpec {
  symbol: string;
  at: 'calls' | 'after-calls';
  callee: string;
}

export type PointSpec = EntryPointSpec | ReturnsPointSpec | CallSitesPointSpec;

/** A struct member whose byte offset a BPF program needs. */
export interface FieldSpec {
  /** The DWARF name, e.g. "net/http.Request". */
  struct: string;
  member: string;
  /** The Go module that defines the struct (its version keys the offsets table); default "std". */
  module?: string;
}

export interface ProbeSetSpec {
  points: Record<string, PointSpec>;
  fields: Record<string, FieldSpec>;
}

export const GO_PROBE_SETS = {
  /**
   * HTTP/1 server requests: start at `serverHandler.ServeHTTP(sh, rw, req)` (req in RDI,
   * the fourth ABIInternal integer register), end at `(*response).finishRequest(w)` whose
   * receiver (RAX) carries `req` and `status` (0 = nothing written yet, i.e. 200).
   */
  httpServer: {
    points: {
      serveHttp: { symbol: 'net/http.serverHandler.ServeHTTP', at: 'entry' },
      finishRequest: { symbol: 'net/http.(*response).finishRequest', at: 'entry' },
    },
    fields: {
      requestMethod: { struct: 'net/http.Request', member: 'Method' },
      requestUrl: { struct: 'net/http.Request', member: 'URL' },
      urlPath: { struct: 'net/url.URL', member: 'Path' },
      responseReq: { struct: 'net/http.response', member: 'req' },
      responseStatus: { struct: 'net/http.response', member: 'status' },
    },
  },
  /**
   * HTTP/2 requests of net/http's bundled server (h2 over TLS, chosen by ALPN). The stream's
   * goroutine runs `runHandler` → `initALPNRequest.ServeHTTP` → `serverHandler.ServeHTTP`, so
   * httpServer's start serves; the end is `(*http2responseWriter).handlerDone(w)`, which
   * runHandler defers (a panicking handler skips it: its start is swept as stale), with
   * `w.rws.req` and `w.rws.status` (0 = nothing written: the 200 comes after).
   */
  http2Server: {
    points: {
      handlerDone: { symbol: 'net/http.(*http2responseWriter).handlerDone', at: 'entry' },
    },
    fields: {
      rwRws: { struct: 'net/http.http2responseWriter', member: 'rws' },
      rwsReq: { struct: 'net/http.http2responseWriterState', member: 'req' },
      rwsStatus: { struct: 'net/http.http2responseWriterState', member: 'status' },
    },
  },
  /**
   * HTTP/2 requests of golang.org/x/net/http2 (h2c through its h2c handler, or its own
   * ConfigureServer): the handler is called straight from `(*serverConn).runHandler` on the
   * stream's goroutine — ServeHTTP may not run — so that is the start; the end as above.
   */
  http2XnetServer: {
    points: {
      runHandler: { symbol: 'golang.org/x/net/http2.(*serverConn).runHandler', at: 'entry' },
      handlerDone: { symbol: 'golang.org/x/net/http2.(*responseWriter).handlerDone', at: 'entry' },
    },
    fields: {
      rwRws: { struct: 'golang.org/x/net/http2.responseWriter', member: 'rws', module: 'golang.org/x/net' },
      rwsReq: { struct: 'golang.org/x/net/http2.responseWriterState', member: 'req', module: 'golang.org/x/net' },
      rwsStatus: { struct: 'golang.org/x/net/http2.responseWriterState', member: 'status', module: 'golang.org/x/net' },
      // A stream's start is kept by a ServeHTTP of the same goroutine only: g's are recycled.
      gGoid: { struct: 'runtime.g', member: 'goid' },
    },
  },
  // ---- issue 3: client calls, gRPC, runtime (bpf/go_calls.bpf.c; agent/collectors/go-calls.ts) ----
  /**
   * gRPC server calls (unary and streaming): `(*Server).handleStream` runs one stream on its
   * own goroutine, which also runs the handler and ends in `(*http2Server).WriteStatus(t,
   * s *Stream, st *status.Status)` (BX = stream, CX = status).
   */
  grpcServer: {
    points: {
      handleStream: { symbol: 'google.golang.org/grpc.(*Server).handleStream', at: 'entry' },
      writeStatus: { symbol: 'google.golang.org/grpc/internal/transport.(*http2Server).WriteStatus', at: 'entry' },
    },
    fields: {
      streamMethod: { struct: 'google.golang.org/grpc/internal/transport.Stream', member: 'method', module: 'google.golang.org/grpc' },
      statusS: { struct: 'google.golang.org/grpc/internal/status.Status', member: 's', module: 'google.golang.org/grpc' },
      spbCode: { struct: 'google.golang.org/genproto/googleapis/rpc/status.Status', member: 'Code', module: 'google.golang.org/genproto' },
    },
  },
  /**
   * gRPC client calls, unary (from Invoke) and streams alike, keyed by the stream:
   * `(*clientStream).newAttemptLocked(cs, …)` — newClientStream calls it on the caller's
   * goroutine once the stream exists (again on a retry) — starts the call, with the method in
   * `cs.callHdr.Method` and the peer in `cs.cc.target`; `(*clientStream).finish(cs, err)`
   * ends it, on whatever goroutine ends the stream.
   */
  grpcClient: {
    points: {
      newAttempt: { symbol: 'google.golang.org/grpc.(*clientStream).newAttemptLocked', at: 'entry' },
      finish: { symbol: 'google.golang.org/grpc.(*clientStream).finish', at: 'entry' },
    },
    fields: {
      clientStreamCallHdr: { struct: 'google.golang.org/grpc.clientStream', member: 'callHdr', module: 'google.golang.org/grpc' },
      callHdrMethod: { struct: 'google.golang.org/grpc/internal/transport.CallHdr', member: 'Method', module: 'google.golang.org/grpc' },
      clientStreamCc: { struct: 'google.golang.org/grpc.clientStream', member: 'cc', module: 'google.golang.org/grpc' },
      clientConnTarget: { struct: 'google.golang.org/grpc.ClientConn', member: 'target', module: 'google.golang.org/grpc' },
      statusErrorE: { struct: 'google.golang.org/grpc/internal/status.Error', member: 'e', module: 'google.golang.org/grpc' },
      spbCode: { struct: 'google.golang.org/genproto/googleapis/rpc/status.Status', member: 'Code', module: 'google.golang.org/genproto' },
    },
  },
  /**
   * Outbound HTTP: `(*Transport).roundTrip(t, req)`; it ends at its RETs (resp in AX, err in
   * BX): no later function runs on the caller's goroutine in every path (see go_calls.bpf.c).
   */
  httpClient: {
    points: {
      roundTrip: { symbol: 'net/http.(*Transport).roundTrip', at: 'entry' },
      roundTripReturns: { symbol: 'net/http.(*Transport).roundTrip', at: 'returns' },
    },
    fields: {
      requestMethod: { struct: 'net/http.Request', member: 'Method' },
      requestUrl: { struct: 'net/http.Request', member: 'URL' },
      urlHost: { struct: 'net/url.URL', member: 'Host' },
      responseStatusCode: { struct: 'net/http.Response', member: 'StatusCode' },
    },
  },
  /**
   * database/sql, any driver: `(*DB).queryDC` / `(*DB).execDC` start an operation on a
   * connection; `(*DB).putConn(db, dc, err, …)` hands the connection back when it is done
   * (after the rows are closed for queries), on the same goroutine, with the error.
   */
  sqlClient: {
    points: {
      queryDC: { symbol: 'database/sql.(*DB).queryDC', at: 'entry' },
      execDC: { symbol: 'database/sql.(*DB).execDC', at: 'entry' },
      putConn: { symbol: 'database/sql.(*DB).putConn', at: 'entry' },
    },
    fields: {
      driverConnCi: { struct: 'database/sql.driverConn', member: 'ci' },
    },
  },
  /**
   * lib/pq's connection, for the peer address of SQL calls. Its point is not probed: it is
   * there so the set resolves only when lib/pq is linked (a missing function means "absent").
   */
  sqlPq: {
    points: {
      driverOpen: { symbol: 'github.com/lib/pq.(*Driver).Open', at: 'entry' },
    },
    fields: {
      pqConnC: { struct: 'github.com/lib/pq.conn', member: 'c', module: 'github.com/lib/pq' },
    },
  },
  /** redigo: `(*conn).DoWithTimeout(c, timeout, cmd, args...)` (Do calls it) → its RETs (err in CX). */
  redigo: {
    points: {
      doWithTimeout: { symbol: 'github.com/gomodule/redigo/redis.(*conn).DoWithTimeout', at: 'entry' },
      doWithTimeoutReturns: { symbol: 'github.com/gomodule/redigo/redis.(*conn).DoWithTimeout', at: 'returns' },
    },
    fields: {
      connConn: { struct: 'github.com/gomodule/redigo/redis.conn', member: 'conn', module: 'github.com/gomodule/redigo' },
    },
  },
  /**
   * go-redis v5: every command of a Client (and of Ring/Cluster nodes) goes through
   * `(*baseClient).defaultProcess(c, cmd Cmder)` → its RETs (err in AX, BX): the connection
   * is taken inside it, so there is no later function on every path. The command name is
   * `cmd._args[0]` (every Cmd type embeds baseCmd first), the peer `c.opt.Addr`. The
   * symbols and DWARF names escape the dot of the package path's last element.
   */
  redisV5: {
    points: {
      process: { symbol: 'gopkg.in/redis%2ev5.(*baseClient).defaultProcess', at: 'entry' },
      processReturns: { symbol: 'gopkg.in/redis%2ev5.(*baseClient).defaultProcess', at: 'returns' },
    },
    fields: {
      clientOpt: { struct: 'gopkg.in/redis%2ev5.baseClient', member: 'opt', module: 'gopkg.in/redis.v5' },
      optionsAddr: { struct: 'gopkg.in/redis%2ev5.Options', member: 'Addr', module: 'gopkg.in/redis.v5' },
      cmdArgs: { struct: 'gopkg.in/redis%2ev5.baseCmd', member: '_args', module: 'gopkg.in/redis.v5' },
    },
  },
  /** A net.Conn's remote address: *TCPConn → conn.fd → netFD.raddr → *TCPAddr (fields only). */
  netPeer: {
    points: {},
    fields: {
      tcpConnConn: { struct: 'net.TCPConn', member: 'conn' },
      connFd: { struct: 'net.conn', member: 'fd' },
      netFdRaddr: { struct: 'net.netFD', member: 'raddr' },
      tcpAddrIp: { struct: 'net.TCPAddr', member: 'IP' },
      tcpAddrPort: { struct: 'net.TCPAddr', member: 'Port' },
    },
  },
  /**
   * Go runtime: stop-the-world pauses (`stopTheWorldWithSema` → `startTheWorldWithSema`,
   * GC ones told apart by `m.preemptoff`) and goroutine lineage at `gostartcallfn`, which
   * newproc1 calls once per new goroutine with `&newg.sched` while `m.curg` is the parent.
   */
  goRuntime: {
    points: {
      stopTheWorld: { symbol: 'runtime.stopTheWorldWithSema', at: 'entry' },
      startTheWorld: { symbol: 'runtime.startTheWorldWithSema', at: 'entry' },
      gostartcallfn: { symbol: 'runtime.gostartcallfn', at: 'entry' },
    },
    fields: {
      gM: { struct: 'runtime.g', member: 'm' },
      gSched: { struct: 'runtime.g', member: 'sched' },
      mCurg: { struct: 'runtime.m', member: 'curg' },
      mPreemptoff: { struct: 'runtime.m', member: 'preemptoff' },
      gAtomicstatus: { struct: 'runtime.g', member: 'atomicstatus' },
    },
  },
  // ---- issue 22: lock contention and GC assist (bpf/go_waits.bpf.c; agent/collectors/go-waits.ts) ----
  /**
   * Goroutines waiting on a contended sync.Mutex / sync.RWMutex. Up to Go 1.19 all three
   * (Mutex.lockSlow, RWMutex.RLock's and Lock's waits) park in `runtime.semacquire1` through
   * `sync.runtime_SemacquireMutex`. Inside semacquire1, `acquireSudog` is called only once the
   * uncontended fast path failed and `releaseSudog` once the semaphore is held: the wait lies
   * between those two calls, and only contended acquisitions reach either. A semacquire1 that
   * serves something else (WaitGroup, the runtime's own semaphores) is told apart by its return
   * address: the instruction after SemacquireMutex's call of it.
   */
  goLockWait: {
    points: {
      waitStart: { symbol: 'runtime.semacquire1', at: 'calls', callee: 'runtime.acquireSudog' },
      waitEnd: { symbol: 'runtime.semacquire1', at: 'calls', callee: 'runtime.releaseSudog' },
      fromMutex: { symbol: 'sync.runtime_SemacquireMutex', at: 'after-calls', callee: 'runtime.semacquire1' },
    },
    fields: {},
  },
  /**
   * GC assist: mallocgc calls `gcAssistAlloc(gp)` when the allocating goroutine is in debt to
   * the marker; the goroutine scans (or parks until background credit arrives) until it has
   * paid. It starts at gcAssistAlloc's entry and ends at the instruction after mallocgc's call
   * of it (one exact end, where gcAssistAlloc has several RETs).
   */
  goGcAssist: {
    points: {
      assistStart: { symbol: 'runtime.gcAssistAlloc', at: 'entry' },
      assistEnd: { symbol: 'runtime.mallocgc', at: 'after-calls', callee: 'runtime.gcAssistAlloc' },
    },
    fields: {},
  },
} as const satisfies Record<string, ProbeSetSpec>;

export type ProbeSetName = keyof typeof GO_PROBE_SETS;

export interface ReturnProbes {
  symbol: string;
  /** File offsets of every RET. */
  fileOffsets: number[];
}

/** The call sites of `callee` in `symbol` ('calls'), or the instructions after them ('after-calls'). */
export interface CallSiteProbes {
  symbol: string;
  callee: string;
  /** Link-time virtual addresses of the probed instructions. */
  addresses: number[];
  fileOffsets: number[];
}

export type ResolvedPoint<P extends PointSpec> = P extends { at: 'entry' } ? EntryProbe : P extends { at: 'returns' } ? ReturnProbes : CallSiteProbes;

export interface ResolvedProbeSet<S extends ProbeSetSpec> {
  points: { [K in keyof S['points']]: ResolvedPoint<S['points'][K]> };
  offsets: { [K in keyof S['fields']]: number };
  /** Where each offset came from: the binary's DWARF or the versioned table. */
  offsetSources: { [K in keyof S['fields']]: OffsetSource };
}

/** The probe sets that resolved for a binary (a set is absent when it did not). */
export type ResolvedProbeSets = { [K in ProbeSetName]?: ResolvedProbeSet<(typeof GO_PROBE_SETS)[K]> };

/** Every field any probe set reads, once each. */
export function allProbeFields(sets: Record<string, ProbeSetSpec> = GO_PROBE_SETS): FieldSpec[] {
  const seen = new Map<string, FieldSpec>();
  for (const set of Object.values(sets)) {
    for (const f of Object.values(set.fields)) seen.set(fieldKey(f), f);
  }
  return [...seen.values()];
}

export function fieldKey(f: FieldSpec): string {
  return `${f.module ?? 'std'}|${f.struct}.${f.member}`;
}
