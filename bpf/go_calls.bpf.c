// SPDX-License-Identifier: GPL-2.0
/* Go client calls (HTTP, gRPC, SQL, Redis), gRPC server calls, GC pauses, goroutine lineage
 * and the sub-call breakdown of slow server requests: one object, one probe family per header
 * (the families share the in-flight calls, the request roots and the histograms, which one
 * object holds without cross-object plumbing):
 *   lib/go_calls_common.bpf.h   calls in flight, their request, histograms, offsets slots
 *   lib/go_request_roots.bpf.h  server requests as roots (maps shared with http_server.bpf.o)
 *   lib/go_grpc.bpf.h           gRPC server (always on) and client
 *   lib/go_http_client.bpf.h    net/http client
 *   lib/go_sql.bpf.h            database/sql (+ lib/pq's peer)
 *   lib/go_redis.bpf.h          redigo, go-redis v5
 *   lib/go_gc_pause.bpf.h       GC stop-the-world pauses (always on)
 *   lib/go_lineage.bpf.h        goroutine → the request it works for
 * HTTP server requests become roots in http_server.bpf.o, which owns the HTTP server probes.
 *
 * Probe points: agent/goinspect/probe-sets.ts. Entry probes sit on the prologue's stack-check
 * `jbe` (a few µs a hit here, against ~30 µs at +0 or at a RET). No return probes: Go moves
 * goroutine stacks and crashes on the trampoline address.
 *
 * A server request is keyed by its goroutine; goroutines it spawns (transitively) map to it
 * through `g_root`, written at goroutine creation, so their calls become its sub-calls. A
 * request sequence number guards against a goroutine (or a recycled g) serving a later
 * request. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "go_abi.bpf.h"
#include "exphist.bpf.h"
#include "aggregate.bpf.h"
#include "duration_stats.bpf.h"
#include "go_calls.h"
#include "go_request_roots.bpf.h"
#include "go_calls_common.bpf.h"
#include "go_grpc.bpf.h"
#include "go_http_client.bpf.h"
#include "go_sql.bpf.h"
#include "go_redis.bpf.h"
#include "go_gc_pause.bpf.h"
#include "go_lineage.bpf.h"

char LICENSE[] SEC("license") = "GPL";
