// Mirrors bpf/go_calls.h: sizes and offsets of the records go_calls.bpf.o writes, and their decoders.
import { cString } from '../c-string.ts';

export const OP_MAX = 48;
export const PEER_MAX = 40;
export const ROUTE_MAX = 64;
export const METHOD_MAX = 8;
export const SUBCALLS_MAX = 16;
/** sizeof(struct call_series); the bucket index follows it in struct call_bucket_key. */
export const SERIES_SIZE = 112;
export const SUBCALL_SIZE = 120;
/** Where struct slow_record's subs start. */
export const SLOW_SUBS_AT = 104;
export const SLOW_RECORD_SIZE = SLOW_SUBS_AT + SUBCALLS_MAX * SUBCALL_SIZE;
/** sizeof(struct go_calls_offsets). */
export const OFFSETS_SIZE = 152;
/** Where struct go_calls_offsets' u64 addresses start (after its 27 u32 offsets and a pad). */
export const U64_AT = 112;
/** enum call_kind */
export const KIND = { httpClient: 1, grpcClient: 2, sql: 3, redis: 4, grpcServer: 5, httpServer: 6, gcPause: 7 } as const;
/** enum call_drop_reason, in order. */
export const DROP_REASONS = ['bucket_map_full', 'stats_map_full', 'inflight_full', 'no_offsets', 'ringbuf_full', 'subcalls_over', 'inflight_unfinished'] as const;
/** Where struct request_state's kind (CALL_HTTP_SERVER / CALL_GRPC_SERVER) is. */
export const REQUEST_KIND_AT = 20;

/** struct call_series */
export interface DecodedSeries {
  pid: number;
  kind: number;
  error: boolean;
  status: number;
  driver: bigint;
  ip4: Buffer;
  port: number;
  op: string;
  peer: string;
}

export function decodeSeries(b: Buffer): DecodedSeries {
  return {
    pid: b.readUInt32LE(0),
    kind: b.readUInt8(4),
    error: b.readUInt8(5) !== 0,
    status: b.readUInt16LE(6),
    driver: b.readBigUInt64LE(8),
    ip4: b.subarray(16, 20),
    port: b.readUInt16LE(20),
    op: cString(b, 24, OP_MAX),
    peer: cString(b, 72, PEER_MAX),
  };
}

/** struct subcall at `at` */
export function decodeSubcall(b: Buffer, at: number) {
  return {
    kind: b.readUInt8(at),
    error: b.readUInt8(at + 1) !== 0,
    status: b.readUInt16LE(at + 2),
    ip4: b.subarray(at + 4, at + 8),
    startOffsetNs: b.readBigUInt64LE(at + 8),
    durationNs: b.readBigUInt64LE(at + 16),
    port: b.readUInt16LE(at + 24),
    op: cString(b, at + 32, OP_MAX),
    peer: cString(b, at + 80, PEER_MAX),
  };
}
