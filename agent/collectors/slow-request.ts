// A server request that went over its service's slow threshold, with the calls it made
// (on its goroutine or on goroutines it spawned): what the agent exports as OTLP spans.

export type SubcallKind = 'http' | 'grpc' | 'sql' | 'redis';

export interface Subcall {
  kind: SubcallKind;
  /** "host:port" when known, else "". */
  peer: string;
  /** HTTP method, gRPC full method, SQL operation word or Redis command. */
  operation: string;
  startOffsetNs: bigint;
  durationNs: bigint;
  error: boolean;
  /** HTTP status or gRPC status code; 0 when not applicable. */
  status: number;
  /** For SQL: the database (db.system), e.g. "postgresql". */
  dbSystem?: string;
}

export interface SlowRequest {
  pid: number;
  service: string;
  kind: 'http' | 'grpc';
  /** Wall-clock ns. */
  startNs: bigint;
  durationNs: bigint;
  /** HTTP method; "" for gRPC. */
  method: string;
  /** The bounded HTTP route, or the gRPC full method. */
  route: string;
  /** HTTP status, or gRPC status code. */
  status: number;
  subcalls: Subcall[];
  /** Sub-calls over the per-request capacity: counted, not kept. */
  droppedSubcalls: number;
}
