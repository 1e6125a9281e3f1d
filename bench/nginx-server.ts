// A non-Go service for the overhead benchmark: Debian's nginx answering /hello with 6 bytes from
// its config (`return 200`), one process pinned to CPU 0 (no master, so the pid that serves is
// the pid started), keep-alive without a per-connection request cap, no access log.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, manage, tempDir, waitFor, type Managed } from '../test/lib/processes.ts';

export const NGINX = process.env.BENCH_NGINX ?? '/usr/sbin/nginx';

/** The whole config: everything nginx writes goes under `dir`. */
export function nginxConfig(dir: string, port: number): string {
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # wrk keeps its connections for the whole run, as it does against the other services (nginx closes one after 1,000 requests by default).
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port};
    location = /hello { default_type text/plain; return 200 "hello\\n"; }
  }
}
`;
}

/** nginx on CPU 0 with a temp-dir config; resolves once /hello answers 200. */
export async function startNginx(): Promise<Managed & { pid: number; url: string }> {
  if (!fs.existsSync(NGINX)) throw new Error(`${NGINX} not found (scripts/setup installs Debian's nginx; BENCH_NGINX names another binary)`);
  const dir = tempDir('bw-bench-nginx');
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConfig(dir, port));
  const m = manage(spawn('taskset', ['-c', '0', NGINX, '-p', dir, '-e', path.join(dir, 'error.log'), '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'nginx /hello',
    async () => {
      if (m.child.exitCode !== null) throw new Error(`nginx exited with ${m.child.exitCode}: ${m.output()}${fs.readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
      const res = await fetch(`${url}/hello`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    },
    10_000,
    50,
  );
  return { ...m, pid: m.child.pid!, url };
}
