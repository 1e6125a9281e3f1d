// The agent with one RED path only, for bench/red-path.ts:
// `node --import tsx bench/red-path-agent.ts uprobe|syscall ENDPOINT API_KEY SPOOL_DIR`.
// uprobe: the Go http-server collector (entry and end probes in the service's threads);
// syscall: the syscall-tracepoint L7 collector alone, which then counts the Go server's HTTP
// itself (no uprobe covers it). Prints "ready" once the probes are loaded; SIGINT stops it.
import path from 'node:path';
import { Agent, BPF_OBJECT_DIR } from '../agent/agent.ts';
import { HttpServerCollector } from '../agent/collectors/http-server.ts';
import { SyscallL7Collector } from '../agent/collectors/syscall-l7.ts';
import type { Collector } from '../agent/collectors/types.ts';

const [redPath, endpoint, apiKey, spoolDir] = process.argv.slice(2);
const collectors: Record<string, (log: (l: string) => void) => Collector> = {
  uprobe: (log) => new HttpServerCollector({ objectPath: path.join(BPF_OBJECT_DIR, 'http_server.bpf.o'), log }),
  syscall: (log) => new SyscallL7Collector({ objectDir: BPF_OBJECT_DIR, log }),
};
const make = collectors[redPath];
if (!make) throw new Error(`red path must be one of ${Object.keys(collectors).join(', ')}, got "${redPath}"`);
const agent = new Agent({ endpoint, apiKey, spoolDir, log: (l) => console.error(`[agent] ${l}`), collectors: (log) => [make(log)] });
await agent.start();
console.log('ready');
process.once('SIGINT', () => void agent.stop(1_000).then(() => process.exit(0)));
