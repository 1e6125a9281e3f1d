// The local stack's API key: BURNWATCH_API_KEY when set; otherwise one generated on the
// first run, kept (mode 0600) under the data dir and printed once.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export interface ResolvedKey {
  key: string;
  /** Where it came from; 'generated' means this run created it (print it once). */
  source: 'env' | 'file' | 'generated';
  file?: string;
}

export function resolveLocalApiKey(dataDir: string, env = process.env): ResolvedKey {
  const fromEnv = env.BURNWATCH_API_KEY?.trim();
  if (fromEnv) return { key: fromEnv, source: 'env' };
  const file = path.join(dataDir, 'api-key');
  try {
    const key = fs.readFileSync(file, 'utf8').trim();
    if (key) return { key, source: 'file', file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  const key = `bw_${randomBytes(24).toString('base64url')}`;
  fs.writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return { key, source: 'generated', file };
}
