// The HTTP side of `--prometheus-listen`: GET /metrics renders the exposition in the format the
// scraper asked for. Nothing else is served; the endpoint holds no secrets beyond what is measured.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { CONTENT_TYPE, negotiateFormat, type PrometheusExposition } from './prometheus-exposition.ts';

export interface ListenAddress {
  /** Empty: every interface (`:9464`). */
  host: string;
  port: number;
}

/** `:9464`, `127.0.0.1:9464`, `[::1]:9464` → host and port; a clear error naming the flag otherwise. */
export function parseListenAddress(value: string, flag = '--prometheus-listen'): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RangeError(`${flag} must be [HOST]:PORT (e.g. :9464 or 127.0.0.1:9464), got "${value}"`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export interface ExpositionServer {
  address: AddressInfo;
  close(): Promise<void>;
}

export async function serveExposition(exposition: PrometheusExposition, at: ListenAddress): Promise<ExpositionServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: the scrape endpoint is /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('only GET and HEAD\n');
      return;
    }
    const format = negotiateFormat(req.headers.accept);
    const text = exposition.render(format);
    // Prometheus asks for gzip; every line repeats its resource's labels, so it shrinks a lot.
    const gzip = /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? gzipSync(text) : text;
    res.writeHead(200, { 'content-type': CONTENT_TYPE[format], ...(gzip ? { 'content-encoding': 'gzip' } : {}), vary: 'Accept, Accept-Encoding' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host || undefined, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
