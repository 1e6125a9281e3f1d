// The BPF objects build for arm64 (docs/go-support.md): every bpf/*.bpf.c through bpf/Makefile
// with ARCH=arm64, as scripts/postinstall builds them on an arm64 host. This machine has no
// arm64 kernel BTF, so vmlinux.h is this host's with arm64's `struct pt_regs` in place of
// x86's — the one type whose layout is per architecture that the programs read (uprobe
// registers; CO-RE relocates it against the real kernel's BTF at load). Loading and attaching
// on arm64 cannot be tested here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, tempDir } from './lib/processes.ts';

const run = promisify(execFile);
const BPF_DIR = path.join(ROOT, 'bpf');
const HOST_VMLINUX = path.join(BPF_DIR, 'build/vmlinux.h');

/** arm64's pt_regs (arch/arm64/include/asm/ptrace.h, Linux 6.1) over the host's vmlinux.h. */
function arm64Vmlinux(): string {
  return `#ifndef BURNWATCH_ARM64_VMLINUX_H
#define BURNWATCH_ARM64_VMLINUX_H
#define pt_regs pt_regs___host
#include "${HOST_VMLINUX}"
#undef pt_regs
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
struct user_pt_regs { __u64 regs[31]; __u64 sp; __u64 pc; __u64 pstate; };
struct pt_regs {
	union {
		struct user_pt_regs user_regs;
		struct { __u64 regs[31]; __u64 sp; __u64 pc; __u64 pstate; };
	};
	__u64 orig_x0;
	__s32 syscallno;
	__u32 unused2;
	__u64 sdei_ttbr1;
	__u64 pmr_save;
	__u64 stackframe[2];
	__u64 lockdep_hardirqs;
	__u64 exit_rcu;
};
#pragma clang attribute pop
#endif
`;
}

/** The member names of `struct pt_regs` in an object's BTF. */
async function ptRegsMembers(object: string): Promise<string[]> {
  const { stdout } = await run('bpftool', ['btf', 'dump', 'file', object, 'format', 'raw'], { maxBuffer: 64 * 1024 * 1024 });
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => /STRUCT 'pt_regs' size=\d+ vlen=\d+/.test(l));
  assert.ok(at >= 0, `${object} has struct pt_regs in its BTF`);
  const vlen = Number(/vlen=(\d+)/.exec(lines[at]!)![1]);
  return lines.slice(at + 1, at + 1 + vlen).map((l) => /^\s*'([^']*)'/.exec(l)![1]!);
}

test('every BPF object builds for arm64 through bpf/Makefile; the Go uprobe objects read arm64 registers', async () => {
  assert.ok(fs.existsSync(HOST_VMLINUX), `${HOST_VMLINUX} missing: run bash scripts/setup`);
  const build = tempDir('bw-bpf-arm64');
  fs.writeFileSync(path.join(build, 'vmlinux.h'), arm64Vmlinux());
  try {
    await run('make', ['-s', '-C', BPF_DIR, '-j2', 'ARCH=arm64', `BUILD=${build}`], { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    assert.fail(`make ARCH=arm64 failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
  const sources = fs.readdirSync(BPF_DIR).filter((f) => f.endsWith('.bpf.c'));
  assert.ok(sources.length > 0);
  const goSources = sources.filter((f) => fs.readFileSync(path.join(BPF_DIR, f), 'utf8').includes('go_abi.bpf.h'));
  assert.ok(goSources.includes('http_server.bpf.c') && goSources.includes('go_waits.bpf.c'), `Go uprobe sources: ${goSources.join(', ')}`);
  for (const src of sources) {
    const object = path.join(build, src.replace(/\.c$/, '.o'));
    const { stdout } = await run('file', ['-b', object]);
    assert.match(stdout, /ELF 64-bit LSB relocatable, eBPF/, object);
  }
  for (const src of goSources) {
    const arm64 = await ptRegsMembers(path.join(build, src.replace(/\.c$/, '.o')));
    const host = await ptRegsMembers(path.join(BPF_DIR, 'build', src.replace(/\.c$/, '.o')));
    assert.ok(arm64.includes('orig_x0') && !arm64.includes('r14'), `${src} for arm64: pt_regs members ${arm64.join(', ')}`);
    const hostMember = process.arch === 'x64' ? 'r14' : 'orig_x0';
    assert.ok(host.includes(hostMember), `${src} for the host (${process.arch}): pt_regs members ${host.join(', ')}`);
  }
  fs.rmSync(build, { recursive: true, force: true });
});
