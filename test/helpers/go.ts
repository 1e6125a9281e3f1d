/**
 * Builds Go fixture services for tests, the way scripts/build-go-fixtures does (Debian's Go
 * and Go library packages, GOPATH mode, no module downloads), and caches the output in
 * test/fixtures/go/bin until a source file changes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const GO_FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/go');
export const GO_FIXTURES_BIN = path.join(GO_FIXTURES_DIR, 'bin');

export interface GoBuildOptions {
  /** `-ldflags='-s -w'`: no .symtab, no DWARF. */
  stripped?: boolean;
  /** Cross-compile (CGO is off, so any GOARCH builds here). Default: the host's. */
  goarch?: 'amd64' | 'arm64';
  /** `-buildmode=pie` (an ET_DYN executable; Go puts .gopclntab in .data.rel.ro). */
  pie?: boolean;
  /** Extra linker flags (for buildGoSource; fixtures are built as the setup script builds them). */
  ldflags?: string;
}

const GO_ENV = { GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOFLAGS: '', CGO_ENABLED: '0' };

function suffix(opts: GoBuildOptions): string {
  return `${opts.pie ? '-pie' : ''}${opts.stripped ? '-stripped' : ''}${opts.goarch && opts.goarch !== hostGoarch() ? `-${opts.goarch}` : ''}`;
}

function hostGoarch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/** Builds `go build` in `srcDir` to `out` (atomically: concurrent test files may race). */
async function goBuild(srcDir: string, out: string, opts: GoBuildOptions): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}-${Date.now()}`;
  const ldflags = [opts.stripped ? '-s -w' : '', opts.ldflags ?? ''].filter(Boolean).join(' ');
  const args = ['build', '-o', tmp, ...(opts.pie ? ['-buildmode=pie'] : []), ...(ldflags ? [`-ldflags=${ldflags}`] : []), '.'];
  const env = { ...process.env, ...GO_ENV, GOCACHE: process.env.GOCACHE ?? path.join(os.homedir(), '.cache/go-build') };
  if (opts.goarch) Object.assign(env, { GOARCH: opts.goarch });
  try {
    await run('go', args, { cwd: srcDir, env, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`go build in ${srcDir} failed: ${e.stderr || e.message}`);
  }
  await rename(tmp, out);
}

async function newestGoSource(dir: string): Promise<number> {
  let newest = 0;
  for (const name of await readdir(dir)) {
    if (name.endsWith('.go')) newest = Math.max(newest, (await stat(path.join(dir, name))).mtimeMs);
  }
  return newest;
}

/**
 * The path of test/fixtures/go/bin/<name>[-pie][-stripped][-<goarch>], built from
 * test/fixtures/go/<name>/ when missing or older than its sources.
 */
export async function buildGoFixture(name: string, opts: Omit<GoBuildOptions, 'ldflags'> = {}): Promise<string> {
  const srcDir = path.join(GO_FIXTURES_DIR, name);
  const out = path.join(GO_FIXTURES_BIN, `${name}${suffix(opts)}`);
  const built = await stat(out).then((s) => s.mtimeMs, () => -1);
  if (built < 0 || built < (await newestGoSource(srcDir))) {
    await mkdir(GO_FIXTURES_BIN, { recursive: true });
    await goBuild(srcDir, out, opts);
  }
  return out;
}

/**
 * Builds a one-file Go program (`main.go` = `source`) into a temp dir cached by the source's
 * hash, for tests that need a binary no fixture service is (e.g. one without net/http).
 */
export async function buildGoSource(source: string, opts: GoBuildOptions = {}): Promise<string> {
  const hash = createHash('sha256').update(source).update(JSON.stringify(opts)).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `burnwatch-go-${hash}`);
  const out = path.join(dir, `prog${suffix(opts)}`);
  if (await stat(out).then(() => true, () => false)) return out;
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'main.go'), source);
  await goBuild(dir, out, opts);
  return out;
}
