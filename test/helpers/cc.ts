/**
 * Small C helper programs for kernel-signal tests (test/fixtures/c/*.c), compiled with the
 * system's cc into a temporary directory per test file.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const C_FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/c');

let buildDir: string | undefined;

/** One directory per test process for the binaries, removed when the process exits. */
function defaultBuildDir(): string {
  if (!buildDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-c-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    buildDir = dir;
  }
  return buildDir;
}

/** Compiles test/fixtures/c/<name>.c to `out` (default: a per-process temp dir) and returns the binary's path. */
export async function compileC(name: string, opts: { out?: string; defines?: Record<string, string | number> } = {}): Promise<string> {
  const out = opts.out ?? path.join(defaultBuildDir(), name);
  const defines = Object.entries(opts.defines ?? {}).map(([k, v]) => `-D${k}=${v}`);
  await run('cc', ['-O1', '-Wl,--build-id', ...defines, '-o', out, path.join(C_FIXTURES_DIR, `${name}.c`)]);
  return out;
}
