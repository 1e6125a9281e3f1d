// The systemd unit that runs the agent as a service: what it holds and how each value is
// written so systemd reads back exactly what was meant (specifiers and variables escaped).
// Why each capability is there: docs/agent-service.md.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The least capabilities the agent runs with, proven by test/agent-capabilities.test.ts (the agent
 * as a non-root uid with exactly these loads its programs, counts a Go service's requests exactly
 * and reads its kernel signals and goroutines; without any one of them that test sees what breaks):
 * - CAP_SYS_ADMIN: creating a uprobe perf event. perf_uprobe_event_init checks
 *   capable(CAP_SYS_ADMIN) again since a 2025 fix to c9e0924e5c2b ("perf/core: open access to
 *   probes for CAP_PERFMON privileged process"), backported to stable: CAP_PERFMON alone gets EACCES. bpf_capable() and perfmon_capable() accept
 *   CAP_SYS_ADMIN, so CAP_BPF and CAP_PERFMON would add nothing; it also mounts a missing tracefs.
 * - CAP_SYS_PTRACE: /proc/PID/exe and /proc/PID/mem of processes of other users (ptrace
 *   access-mode checks): how binaries are inspected and probed and goroutines counted. Without
 *   it no process but the agent's own user's is watched.
 * - CAP_DAC_READ_SEARCH: /proc/PID/environ and /proc/PID/mem are mode 0400/0600 of the process's
 *   owner, and the file permission check comes before the ptrace one: without it service.name
 *   (OTEL_SERVICE_NAME in the environment) falls back to the executable's name and the goroutine
 *   count is missing. Also reads binaries only their owner may read.
 * Why each other candidate is left out: docs/agent-service.md.
 */
export const AGENT_CAPABILITIES = ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE', 'CAP_DAC_READ_SEARCH'] as const;

export const UNIT_NAME = 'burnwatch-agent.service';
/** The credential name LoadCredential gives the key under $CREDENTIALS_DIRECTORY (%d). */
const KEY_CREDENTIAL = 'api-key';

export interface AgentUnitOptions {
  /** Absolute path of the node binary. */
  node: string;
  /** Absolute path of bin/burnwatch.js. */
  cli: string;
  endpoint: string;
  /** Absolute path of the API key file; systemd copies it into the service's credentials. */
  apiKeyFile: string;
  /** StateDirectory= name, relative to /var/lib; the spool lives in it. */
  stateDirectory: string;
  intervalSeconds?: number;
  /** --probes and --probe-cooldown as given to install (absent: the agent's defaults). */
  probeArgs?: readonly string[];
}

/**
 * One word of an Exec line, quoted when needed. systemd expands `%` specifiers and `$` variables
 * in Exec lines before splitting; both are doubled so a path or URL containing them stays as written.
 */
export function execWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./$-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A value in a setting that expands specifiers but not variables (LoadCredential=, Description=). */
function specifierSafe(value: string): string {
  return value.replace(/%/g, '%%');
}

export function agentUnit(o: AgentUnitOptions): string {
  const caps = AGENT_CAPABILITIES.join(' ');
  const exec = [
    o.node,
    o.cli,
    'agent',
    '--endpoint',
    o.endpoint,
    '--api-key-file',
    `%d/${KEY_CREDENTIAL}`,
    '--spool-dir',
    `%S/${o.stateDirectory}/spool`,
    ...(o.intervalSeconds ? ['--interval', `${o.intervalSeconds}s`] : []),
    ...(o.probeArgs ?? []),
  ];
  // %d and %S are ours (credentials and state directories): written unescaped on purpose.
  const execLine = exec.map((w) => (w.startsWith('%d/') || w.startsWith('%S/') ? w : execWord(w))).join(' ');
  return `# Written by \`burnwatch agent install\`; \`burnwatch agent uninstall\` removes it.
[Unit]
Description=burnwatch agent (SLOs of this host's Go services, from eBPF)
Documentation=${specifierSafe(pathToFileURL(path.resolve(path.dirname(o.cli), '../docs/agent-service.md')).href)}
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${execLine}
# A user of its own, with only the capabilities the agent needs (docs/agent-service.md).
DynamicUser=yes
AmbientCapabilities=${caps}
CapabilityBoundingSet=${caps}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
# The spool: batches wait here until the gateway has them, across restarts.
StateDirectory=${o.stateDirectory}
StateDirectoryMode=0700
Environment=HOME=%S/${o.stateDirectory}
# The key never appears on a command line or in the unit: systemd hands the service a copy
# readable by it alone.
LoadCredential=${KEY_CREDENTIAL}:${specifierSafe(o.apiKeyFile)}
Restart=on-failure
RestartSec=5s
# The agent flushes on SIGTERM; give it time to hand the last batch to the spool.
TimeoutStopSec=30s

[Install]
WantedBy=multi-user.target
`;
}
