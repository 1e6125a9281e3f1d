/**
 * Whether a Go binary passes arguments in registers (ABIInternal), which every probe in
 * bpf/go_*.bpf.c reads: Go 1.17 introduced it on amd64 and Go 1.18 on arm64. Older binaries
 * (and any built with GOEXPERIMENT=noregabi) pass arguments on the stack, where the probes
 * would read garbage — they are refused with the reason, never probed.
 */
import type { GoArch } from './offsets.ts';
import type { GoBuildInfo } from './buildinfo.ts';

/** First Go minor version (1.x) with the register ABI, per architecture (Go 1.17 and 1.18 release notes). */
export const REGISTER_ABI_SINCE: Readonly<Record<GoArch, number>> = { amd64: 17, arm64: 18 };

/**
 * The Go 1.x minor version in a toolchain version string: "go1.19.8", "go1.21rc2",
 * "go1.22.0 X:boringcrypto", "devel go1.22-a1b2c3 Tue …". Undefined when there is none.
 */
export function goMinorVersion(version: string): number | undefined {
  const m = /(?:^|\s)go1\.(\d+)(?![\d])/.exec(version);
  return m ? Number(m[1]) : undefined;
}

/** Why the binary cannot be probed safely, or undefined when its ABI is the register ABI. */
export function registerAbiProblem(buildInfo: Pick<GoBuildInfo, 'goVersion' | 'settings'>, arch: GoArch): string | undefined {
  const since = REGISTER_ABI_SINCE[arch];
  const minor = goMinorVersion(buildInfo.goVersion);
  if (minor === undefined) {
    return `Go version ${JSON.stringify(buildInfo.goVersion)} names no go1.N release, so its calling convention is unknown; probes need the register ABI (Go ≥ 1.${since} on ${arch})`;
  }
  if (minor < since) {
    return `${buildInfo.goVersion} on ${arch} passes function arguments on the stack; probes read them from registers (Go ≥ 1.${since} on ${arch})`;
  }
  const experiments = [buildInfo.settings.GOEXPERIMENT ?? '', /\sX:(\S+)/.exec(buildInfo.goVersion)?.[1] ?? ''].join(',');
  if (experiments.split(',').some((e) => e.trim() === 'noregabi')) {
    return `${buildInfo.goVersion} on ${arch} was built with GOEXPERIMENT=noregabi: arguments are on the stack, probes read them from registers`;
  }
  return undefined;
}
