// Where the syscall L7 programs run (issue 20 item 4): on the syscall tracepoints of the calls
// the path reads and nowhere else, so the host's other syscalls (futex, epoll_wait, nanosleep…)
// run no program. Read back from the kernel (`bpftool perf list`: the perf events this process
// attached programs to), not from the collector's own list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BPF_OBJECT_DIR } from '../agent/agent.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';

/** The calls whose start and end the path needs (docs/syscall-l7.md), and close, seen at its start only. */
const DATA_CALLS = ['read', 'readv', 'recvfrom', 'recvmsg', 'write', 'writev', 'sendto', 'sendmsg', 'connect', 'accept', 'accept4'];

interface PerfAttachment {
  pid: number;
  prog_id: number;
  fd_type: string;
  tracepoint?: string;
}

function attachedTracepoints(pid: number): { tracepoint: string; program: string }[] {
  const names = new Map<number, string>();
  for (const p of JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as { id: number; name?: string }[]) {
    names.set(p.id, p.name ?? '');
  }
  const perf = JSON.parse(execFileSync('bpftool', ['perf', 'list', '-j'], { encoding: 'utf8' })) as PerfAttachment[];
  return perf
    .filter((a) => a.pid === pid)
    .map((a) => ({ tracepoint: a.fd_type === 'tracepoint' ? a.tracepoint! : a.fd_type, program: names.get(a.prog_id) ?? '' }));
}

test('the programs run on the read/write/accept/connect/close syscall tracepoints only, one program per direction', () => {
  const l7 = new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log: () => {} });
  try {
    assert.deepEqual(l7.unavailable, []);
    const got = attachedTracepoints(process.pid).sort((a, b) => (a.tracepoint < b.tracepoint ? -1 : a.tracepoint > b.tracepoint ? 1 : 0));
    const want = [...DATA_CALLS.flatMap((c) => [`sys_enter_${c}`, `sys_exit_${c}`]), 'sys_enter_close'].sort();
    assert.deepEqual(got.map((a) => a.tracepoint), want);
    // The same enter program for every call but close and recvfrom (wrappers around one body), one exit program for all.
    const programsOf = (prefix: string) => new Set(got.filter((a) => a.tracepoint.startsWith(prefix)).map((a) => a.program));
    assert.equal(programsOf('sys_exit_').size, 1);
    assert.equal(new Set(got.filter((a) => /^sys_enter_(?!close$|recvfrom$)/.test(a.tracepoint)).map((a) => a.program)).size, 1);
  } finally {
    l7.close();
  }
  assert.deepEqual(attachedTracepoints(process.pid), [], 'closing the collector detaches every tracepoint');
});
