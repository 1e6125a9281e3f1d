// The kernel check (agent/kernel-support.ts) on this machine's real kernel, and on fake
// /sys and /proc trees that lack BTF, uprobes or tracepoints: what it says will and will not work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkKernelSupport,
  checkKernelSupportForAgent,
  requireUsableKernel,
  SIGNAL_REQUIREMENTS,
  UnsupportedKernelError,
  type KernelPaths,
} from '../agent/kernel-support.ts';
import { kernelHasTracepoint } from '../agent/collectors/kernel-maps.ts';
import { KERNEL_COLLECTOR_FACTORIES } from '../agent/collectors/kernel.ts';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/burnwatch.js');
const ALL_TRACEPOINTS = SIGNAL_REQUIREMENTS.flatMap((r) => (r.tracepoints ?? []).map((p) => p.tracepoint));

/** A minimal BTF blob (no types) whose string section holds `names`. */
function btfWithStrings(names: string[]): Buffer {
  const strings = Buffer.from(`\0${names.map((n) => `${n}\0`).join('')}`);
  const header = Buffer.alloc(24);
  header.writeUInt16LE(0xeb9f, 0);
  header.writeUInt8(1, 2); // version
  header.writeUInt32LE(24, 4); // hdr_len
  header.writeUInt32LE(0, 8); // type_off
  header.writeUInt32LE(0, 12); // type_len
  header.writeUInt32LE(0, 16); // str_off
  header.writeUInt32LE(strings.length, 20);
  return Buffer.concat([header, strings]);
}

interface FakeKernel {
  btf?: Buffer;
  bpf?: boolean;
  uprobePmu?: boolean;
  /** tracefs mounted (at the debugfs copy), with these perf-event tracepoints ('category/name'). */
  tracefs?: readonly string[];
  /** tracefs's uprobe_events (needs `tracefs`). */
  uprobeEvents?: boolean;
}

const PERF_TRACEPOINTS = SIGNAL_REQUIREMENTS.flatMap((r) => (r.perfTracepoints ?? []).map((p) => `${p.category}/${p.tracepoint}`));

/** A fake tree of the files the check probes, holding only what `k` says the kernel has. */
function fakeKernel(dir: string, k: FakeKernel): KernelPaths {
  const paths: KernelPaths = {
    btf: path.join(dir, 'sys/kernel/btf/vmlinux'),
    bpfSysctl: path.join(dir, 'proc/sys/kernel/unprivileged_bpf_disabled'),
    uprobePmu: path.join(dir, 'sys/bus/event_source/devices/uprobe/type'),
    tracefs: [path.join(dir, 'sys/kernel/tracing'), path.join(dir, 'sys/kernel/debug/tracing')],
    osRelease: path.join(dir, 'proc/sys/kernel/osrelease'),
  };
  const put = (file: string, content: string | Buffer) => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  };
  put(paths.osRelease, '5.4.0-fake\n');
  if (k.btf) put(paths.btf, k.btf);
  if (k.bpf ?? true) put(paths.bpfSysctl, '2\n');
  if (k.uprobePmu) put(paths.uprobePmu, '7\n');
  if (k.tracefs) {
    mkdirSync(path.join(paths.tracefs[1]!, 'events'), { recursive: true });
    for (const tp of k.tracefs) mkdirSync(path.join(paths.tracefs[1]!, 'events', tp), { recursive: true });
    if (k.uprobeEvents) put(path.join(paths.tracefs[1]!, 'uprobe_events'), '');
  }
  return paths;
}

function withTmp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bw-kernel-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const everything = () => ({ btf: fullBtf(), uprobePmu: true, tracefs: PERF_TRACEPOINTS });
const fullBtf = () => btfWithStrings(['task_struct', ...ALL_TRACEPOINTS.map((t) => `btf_trace_${t}`)]);
const verdicts = (paths: KernelPaths) => Object.fromEntries(checkKernelSupport(paths).signals.map((s) => [s.signal, s.works]));

test('this machine: bpf, BTF, uprobes, tracefs and every tracepoint present, as the collectors\' loader sees them', async () => {
  // As the agent checks: tracefs mounted first if this fresh machine lacks it (root).
  const s = checkKernelSupportForAgent();
  assert.equal(s.release, readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
  for (const [name, f] of Object.entries(s.facilities)) assert.ok(f.ok, `${name}: ${f.detail}`);
  for (const tp of ALL_TRACEPOINTS) assert.ok(kernelHasTracepoint(tp), `the loader's check disagrees on ${tp}`);
  assert.deepEqual(
    s.signals.map((v) => [v.signal, v.works]),
    SIGNAL_REQUIREMENTS.map((r) => [r.signal, 'yes']),
  );
  assert.deepEqual(requireUsableKernel(s), []);

  const out = await new Promise<{ code: number; stdout: string }>((resolve) =>
    execFile(process.execPath, [BIN, 'doctor'], (err, stdout) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout })),
  );
  assert.equal(out.code, 0, out.stdout);
  for (const r of SIGNAL_REQUIREMENTS) assert.match(out.stdout, new RegExp(`^  ${r.signal} +works `, 'm'));
  const json = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BIN, 'doctor', '--json'], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  assert.deepEqual(JSON.parse(json).signals, JSON.parse(JSON.stringify(s.signals)));
});

test('a kernel with everything: every signal works', () =>
  withTmp((dir) => {
    const paths = fakeKernel(dir, everything());
    assert.deepEqual(new Set(Object.values(verdicts(paths))), new Set(['yes']));
    assert.equal(checkKernelSupport(paths).release, '5.4.0-fake');
  }));

test('no BTF: nothing works, and the agent is refused with the full list', () =>
  withTmp((dir) => {
    const s = checkKernelSupport(fakeKernel(dir, { ...everything(), btf: undefined }));
    assert.equal(s.facilities.btf.ok, false);
    assert.match(s.facilities.btf.detail, /no kernel BTF: .*vmlinux missing: kernel built without CONFIG_DEBUG_INFO_BTF/);
    assert.equal(s.usable, false);
    for (const v of s.signals) {
      assert.equal(v.works, 'no');
      assert.ok(v.missing.includes('no btf'), `${v.signal}: ${v.missing}`);
    }
    assert.throws(
      () => requireUsableKernel(s),
      (err: Error) => {
        assert.ok(err instanceof UnsupportedKernelError);
        assert.match(err.message, /^this kernel cannot run the agent:\nkernel 5\.4\.0-fake/);
        assert.match(err.message, /MISSING btf +no kernel BTF/);
        for (const r of SIGNAL_REQUIREMENTS) assert.match(err.message, new RegExp(`  ${r.signal} +will not work +${r.measures.replace(/[()]/g, '\\$&')} — missing: .*no btf`));
        return true;
      },
    );
  }));

test('a file that is not BTF is reported as such', () =>
  withTmp((dir) => {
    const s = checkKernelSupport(fakeKernel(dir, { ...everything(), btf: Buffer.from('not a btf blob at all, but long enough') }));
    assert.equal(s.facilities.btf.ok, false);
    assert.match(s.facilities.btf.detail, /not BTF \(bad magic\)/);
    const truncated = fullBtf().subarray(0, 40);
    const t = checkKernelSupport(fakeKernel(dir, { ...everything(), btf: truncated }));
    assert.match(t.facilities.btf.detail, /truncated BTF/);
  }));

test('no bpf() syscall: nothing works', () =>
  withTmp((dir) => {
    const s = checkKernelSupport(fakeKernel(dir, { ...everything(), bpf: false }));
    assert.match(s.facilities.bpf.detail, /CONFIG_BPF_SYSCALL/);
    assert.equal(s.usable, false);
    assert.ok(s.signals.every((v) => v.works === 'no' && v.missing.includes('no bpf')));
  }));

test('no uprobes: the Go signals will not work, the kernel signals do, and the agent starts saying so', () =>
  withTmp((dir) => {
    const paths = fakeKernel(dir, { ...everything(), uprobePmu: false });
    const s = checkKernelSupport(paths);
    assert.match(s.facilities.uprobes.detail, /no uprobes .*CONFIG_UPROBE_EVENTS/);
    const uprobeSignals = SIGNAL_REQUIREMENTS.filter((r) => r.needs.includes('uprobes')).map((r) => r.signal);
    assert.deepEqual(uprobeSignals.slice(0, 2), ['http-server', 'go-calls']);
    assert.deepEqual(verdicts(paths), Object.fromEntries(SIGNAL_REQUIREMENTS.map((r) => [r.signal, uprobeSignals.includes(r.signal) ? 'no' : 'yes'])));
    const lines = requireUsableKernel(s);
    assert.equal(lines.length, uprobeSignals.length);
    assert.match(lines[0]!, /^signal http-server will not work on kernel 5\.4\.0-fake \(no uprobes\): Go net\/http server requests/);
    assert.match(lines[1]!, /^signal go-calls will not work/);
  }));

test('uprobes through tracefs alone (no uprobe PMU) count: libbpf falls back to uprobe_events', () =>
  withTmp((dir) => {
    const paths = fakeKernel(dir, { ...everything(), uprobePmu: false, uprobeEvents: true });
    const s = checkKernelSupport(paths);
    assert.equal(s.facilities.uprobes.ok, true);
    assert.equal(s.facilities.uprobes.detail, `uprobes through ${path.join(paths.tracefs[1]!, 'uprobe_events')}`);
  }));

test('missing tracepoints: a signal missing some works partly, one missing all does not (from a copy of the real BTF)', () =>
  withTmp((dir) => {
    // This kernel's own BTF with two tracepoints' typedefs renamed away: an older kernel's view.
    const btf = Buffer.from(readFileSync('/sys/kernel/btf/vmlinux'));
    for (const tp of ['block_io_start', ...SIGNAL_REQUIREMENTS.find((r) => r.signal === 'lifecycle')!.tracepoints!.map((p) => p.tracepoint)]) {
      const name = Buffer.from(`\0btf_trace_${tp}\0`);
      const at = btf.indexOf(name);
      assert.ok(at >= 0, tp);
      btf.write('x', at + 1); // "xtf_trace_…"
    }
    const s = checkKernelSupport(fakeKernel(dir, { ...everything(), btf }));
    const block = s.signals.find((v) => v.signal === 'block')!;
    assert.deepEqual([block.works, block.missing], ['partly', ['tracepoint block_io_start']]);
    const lifecycle = s.signals.find((v) => v.signal === 'lifecycle')!;
    assert.deepEqual([lifecycle.works, lifecycle.missing], ['no', ['tracepoint sched_process_exec', 'tracepoint sched_process_exit']]);
    // memory attaches sched_process_exit too: partly.
    assert.equal(s.signals.find((v) => v.signal === 'memory')!.works, 'partly');
    assert.equal(s.signals.find((v) => v.signal === 'tcp')!.works, 'yes');
    assert.equal(s.usable, true);
    const lines = requireUsableKernel(s);
    assert.ok(lines.some((l) => /^signal block works only partly .*\(tracepoint block_io_start\)/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^signal lifecycle will not work/.test(l)), lines.join('\n'));
  }));

test('tracefs not mounted, or without a syscall tracepoint: the perf-event signals will not work, the rest do', () =>
  withTmp((dir) => {
    const perfSignals = SIGNAL_REQUIREMENTS.filter((r) => r.perfTracepoints?.length).map((r) => r.signal);
    assert.ok(perfSignals.includes('futex'));
    assert.ok(perfSignals.includes('syscall-l7'), 'the syscall L7 path attaches to syscalls:sys_enter_<call>/sys_exit_<call>');
    const unmounted = checkKernelSupport(fakeKernel(dir, { ...everything(), tracefs: undefined }));
    assert.match(unmounted.facilities.tracefs.detail, /tracefs not mounted .*the agent mounts it at .*sys\/kernel\/tracing when it starts as root/);
    for (const v of unmounted.signals) assert.equal(v.works, perfSignals.includes(v.signal) ? 'no' : 'yes', v.signal);
    assert.deepEqual(unmounted.signals.find((v) => v.signal === 'futex')!.missing, ['no tracefs']);

    const [first, ...rest] = PERF_TRACEPOINTS;
    const s = checkKernelSupport(fakeKernel(path.join(dir, 'b'), { ...everything(), tracefs: rest }));
    const futex = s.signals.find((v) => v.signal === 'futex')!;
    assert.equal(futex.works, 'partly');
    assert.deepEqual(futex.missing, [`tracepoint ${first!.replace('/', ':')}`]);
  }));

test('every collector the agent runs has its requirements listed', () => {
  // The agent's own list (agent/agent.ts names its Go collectors; the kernel ones come from KERNEL_COLLECTOR_FACTORIES).
  const agentSource = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '../agent/agent.ts'), 'utf8');
  // A factory is `['name', () => new …]`, or `['name', () => (kept = new …)]` when another collector needs it.
  const goCollectors = [...agentSource.matchAll(/\['([a-z0-9-]+)', \(\) => (?:\(\w+ = )?new /g)].map((m) => m[1]!);
  assert.ok(goCollectors.includes('go-calls') && goCollectors.includes('syscall-l7'), goCollectors.join(', '));
  assert.ok(goCollectors.includes('http-server'));
  const listed = new Set(SIGNAL_REQUIREMENTS.map((r) => r.signal));
  for (const name of [...goCollectors, ...KERNEL_COLLECTOR_FACTORIES.map(([n]) => n)]) assert.ok(listed.has(name), `${name} is not in SIGNAL_REQUIREMENTS`);
});
