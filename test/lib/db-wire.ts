// Real database servers and clients for the syscall-path protocol tests: a redis-server
// started by the test, the clients (redis-cli, ioredis, Python's redis, psql, node-postgres),
// and a TCP relay that records what each side sent, one chunk per read.
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { freePort, manage, waitFor } from './processes.ts';

const run = promisify(execFile);

export interface RedisServer {
  port: number;
  stop(): Promise<void>;
}

/** redis-server on 127.0.0.1, nothing saved; DEBUG allowed (Redis 7 refuses it unless enabled). */
export async function startRedis(dir: string): Promise<RedisServer> {
  const port = await freePort();
  const m = manage(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--enable-debug-command', 'yes'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  await waitFor(`redis-server on ${port}`, async () => ((await run('redis-cli', ['-p', String(port), 'PING'])).stdout.trim() === 'PONG' ? true : undefined));
  return { port, stop: async () => void (await m.stop()) };
}

export type Direction = 'request' | 'response';

export interface Chunk {
  /** 'request': client → server; 'response': server → client. */
  direction: Direction;
  /** Which accepted connection (0, 1, …) of the relay. */
  conn: number;
  bytes: Buffer;
}

/**
 * A TCP relay to 127.0.0.1:target that records every chunk each side sent, as the other
 * side's read returned it — what a syscall probe on either end would see.
 */
export interface Relay {
  port: number;
  chunks: Chunk[];
  /** The recorded chunks since `from` (an index into chunks). */
  since(from: number): Chunk[];
  close(): Promise<void>;
}

export async function startRelay(target: number): Promise<Relay> {
  const chunks: Chunk[] = [];
  const sockets = new Set<net.Socket>();
  let conns = 0;
  const server = net.createServer((client) => {
    const conn = conns++;
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (d) => {
      chunks.push({ direction: 'request', conn, bytes: Buffer.from(d) });
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      chunks.push({ direction: 'response', conn, bytes: Buffer.from(d) });
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    chunks,
    since: (from) => chunks.slice(from),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Runs `redis-cli -p port` with the given lines on stdin: one connection, one command a line. */
export async function redisCliLines(port: number, lines: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('redis-cli', ['-p', String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`redis-cli exited ${code}: ${out}`))));
    child.stdin.end(lines.map((l) => `${l}\n`).join(''));
  });
}

/** Debian's own Python with its python3-redis (a PATH python may be another build without it). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Runs a Python snippet with `r = redis.Redis(port=…)` defined. */
export async function pythonRedis(port: number, body: string): Promise<string> {
  const script = `import redis\nr = redis.Redis(host='127.0.0.1', port=${port})\n${body}\n`;
  return (await run(SYSTEM_PYTHON, ['-c', script])).stdout;
}

/** Runs psql with each statement as its own -c (one simple query each) over one connection. */
export async function psql(port: number, statements: readonly string[], opts: { password?: string; sslmode?: string } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-X', '-q', '-v', 'ON_ERROR_STOP=0'];
  for (const s of statements) args.push('-c', s);
  const env = { ...process.env, PGPASSWORD: opts.password ?? '', PGSSLMODE: opts.sslmode ?? 'prefer', PGCONNECT_TIMEOUT: '10' };
  try {
    const r = await run('psql', args, { env });
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}
