// API keys on the command line's side. The local stack's key: BURNWATCH_API_KEY when set;
// otherwise one generated on the first run, kept (mode 0600, in a 0700 directory) under the data
// dir and printed once. The agent's key: --api-key-file or BURNWATCH_API_KEY; --api-key still
// works but every user of the host can read it in `ps`, so it warns.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { apiKeyProblem } from '../lambda/gateway/auth.ts';
import { UsageError } from './args.ts';

export interface ResolvedKey {
  key: string;
  /** Where it came from; 'generated' means this run created it (print it once). */
  source: 'env' | 'file' | 'generated';
  file?: string;
}

function checked(key: string, source: string): string {
  const problem = apiKeyProblem(key, source);
  if (problem) throw new UsageError(problem);
  return key;
}

export function resolveLocalApiKey(dataDir: string, env = process.env): ResolvedKey {
  const fromEnv = env.BURNWATCH_API_KEY?.trim();
  if (fromEnv) return { key: checked(fromEnv, 'BURNWATCH_API_KEY'), source: 'env' };
  const file = path.join(dataDir, 'api-key');
  try {
    const key = fs.readFileSync(file, 'utf8').trim();
    if (key) return { key: checked(key, file), source: 'file', file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = `bw_${randomBytes(24).toString('base64url')}`;
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return { key, source: 'generated', file };
}

export const ARGV_KEY_WARNING =
  '--api-key is readable by every user of this host (ps, /proc/PID/cmdline); prefer --api-key-file FILE (mode 0600) or BURNWATCH_API_KEY';

/** The agent's key from --api-key-file, --api-key (warned about) or BURNWATCH_API_KEY, checked. */
export function agentApiKey(opts: { flag?: string; file?: string }, env: NodeJS.ProcessEnv, warn: (line: string) => void): string {
  if (opts.flag !== undefined && opts.file !== undefined) throw new UsageError('give --api-key-file or --api-key, not both');
  if (opts.file !== undefined) {
    let text: string;
    let mode: number;
    try {
      text = fs.readFileSync(opts.file, 'utf8');
      mode = fs.statSync(opts.file).mode;
    } catch (err) {
      throw new UsageError(`--api-key-file: cannot read ${opts.file}: ${(err as Error).message}`);
    }
    if (mode & 0o077) warn(`${opts.file} can be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
    const key = text.trim();
    if (!key) throw new UsageError(`--api-key-file: ${opts.file} is empty`);
    return checked(key, opts.file);
  }
  if (opts.flag !== undefined) {
    warn(ARGV_KEY_WARNING);
    return checked(opts.flag, '--api-key');
  }
  const fromEnv = env.BURNWATCH_API_KEY?.trim();
  if (!fromEnv) throw new UsageError('an API key is required: --api-key-file FILE or BURNWATCH_API_KEY');
  return checked(fromEnv, 'BURNWATCH_API_KEY');
}
