// `burnwatch agent install|uninstall`: the agent as a systemd service. Writes (or removes) the
// unit; when systemd runs this host (PID 1), also reloads it and enables/starts (or stops and
// disables) the service, otherwise says what to run.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseCommandArgs, durationOption, UsageError } from './args.ts';
import { PROBE_HELP, PROBE_OPTIONS, probeSettings } from './probe-options.ts';
import { formatDuration } from '../common/duration.ts';
import { agentApiKey } from './api-key.ts';
import { agentUnit, UNIT_NAME } from './agent-unit.ts';

const DEFAULT_UNIT_DIR = '/etc/systemd/system';
const DEFAULT_STATE_DIRECTORY = 'burnwatch-agent';
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/burnwatch.js');

const INSTALL_HELP = `Usage: burnwatch agent install --endpoint URL --api-key-file FILE [--unit-dir DIR] [--state-dir DIR] [--interval D]

Installs the agent as the systemd service ${UNIT_NAME}: its own user (DynamicUser) with only
the capabilities it needs, a read-only system, the spool in a state directory, the API key
handed over by systemd (LoadCredential), restarted on failure. See docs/agent-service.md.

Options:
  --endpoint URL       gateway (or OpenTelemetry Collector) base URL (required)
  --api-key-file FILE  the API key, read by systemd at each start (required)
  --unit-dir DIR       where the unit goes (default ${DEFAULT_UNIT_DIR}); with another directory
                       the unit is only written, systemd is not told
  --state-dir DIR      the state directory under /var/lib (default /var/lib/${DEFAULT_STATE_DIRECTORY})
  --interval D         how often to drain and export (default 10s)
${PROBE_HELP}
  -h, --help           this help`;

const UNINSTALL_HELP = `Usage: burnwatch agent uninstall [--unit-dir DIR]

Stops and disables ${UNIT_NAME} (when systemd runs this host) and removes its unit. The
spool in the state directory is left: unsent batches are still there for a later agent.`;

/** systemd runs this host (sd_booted's test). */
function systemdIsRunning(): boolean {
  return fs.existsSync('/run/systemd/system');
}

function systemctl(args: string[]): void {
  execFileSync('systemctl', args, { stdio: 'inherit' });
}

/** StateDirectory= takes a path relative to /var/lib; accept that or /var/lib/NAME. */
export function stateDirectoryName(value: string | undefined): string {
  if (value === undefined) return DEFAULT_STATE_DIRECTORY;
  const rel = value.startsWith('/') ? path.relative('/var/lib', path.normalize(value)) : path.normalize(value);
  if (rel === '' || rel === '.' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new UsageError(`--state-dir must be a directory under /var/lib (systemd's StateDirectory=), got "${value}"`);
  }
  if (!/^[A-Za-z0-9._/-]+$/.test(rel)) throw new UsageError(`--state-dir: "${value}" may hold only letters, digits and . _ - /`);
  return rel;
}

function endpointOption(value: string | undefined): string {
  if (!value) throw new UsageError('--endpoint is required');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--endpoint must be a URL such as http://gateway:8787, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--endpoint must be http:// or https://, got "${value}"`);
  return value;
}

/**
 * The service runs as a user of its own, which must be able to read node, the CLI and its
 * modules: a checkout under /root (0700) is not, and the service would fail at every start.
 */
export function checkReadableByOthers(file: string): void {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode;
    if (!(mode & 0o001)) throw new UsageError(`${dir} is not searchable by other users (mode ${(mode & 0o777).toString(8)}), so the service's own user cannot run ${file}; install burnwatch elsewhere or chmod o+x ${dir}`);
    if (dir === '/') break;
  }
  const mode = fs.statSync(file).mode;
  if (!(mode & 0o004)) throw new UsageError(`${file} is not readable by other users (mode ${(mode & 0o777).toString(8)}), so the service's own user cannot run it`);
}

export async function runAgentInstall(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    endpoint: { type: 'string' },
    'api-key-file': { type: 'string' },
    'unit-dir': { type: 'string' },
    'state-dir': { type: 'string' },
    interval: { type: 'string' },
    ...PROBE_OPTIONS,
  });
  if (values.help) {
    console.log(INSTALL_HELP);
    return 0;
  }
  const endpoint = endpointOption(values.endpoint);
  const keyFile = values['api-key-file'];
  if (keyFile === undefined) throw new UsageError('--api-key-file is required (the service reads its key through systemd, never from its command line)');
  // Fail now, not at the service's first start: the file must hold a usable key.
  agentApiKey({ file: keyFile }, {}, (line) => console.error(`burnwatch agent install: warning: ${line}`));
  const intervalMs = durationOption(values.interval, 'interval', 10_000);
  if (intervalMs % 1000 !== 0) throw new UsageError(`--interval must be whole seconds for the service, got "${values.interval}"`);
  const probes = probeSettings(values);
  const probeArgs = [
    ...(values.probes !== undefined ? ['--probes', probes.probes] : []),
    ...(values['probe-cooldown'] !== undefined ? ['--probe-cooldown', formatDuration(probes.probeCooldownMs)] : []),
  ];
  checkReadableByOthers(process.execPath);
  checkReadableByOthers(CLI);

  const unitDir = path.resolve(values['unit-dir'] ?? DEFAULT_UNIT_DIR);
  const unit = agentUnit({
    node: process.execPath,
    cli: CLI,
    endpoint,
    apiKeyFile: path.resolve(keyFile),
    stateDirectory: stateDirectoryName(values['state-dir']),
    intervalSeconds: values.interval === undefined ? undefined : intervalMs / 1000,
    probeArgs,
  });
  fs.mkdirSync(unitDir, { recursive: true, mode: 0o755 });
  const file = path.join(unitDir, UNIT_NAME);
  // Units are world-readable by convention; this one holds no secret (the key stays in its file).
  fs.writeFileSync(file, unit, { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  console.log(`wrote ${file}`);
  if (values['unit-dir'] === undefined && systemdIsRunning()) {
    systemctl(['daemon-reload']);
    systemctl(['enable', '--now', UNIT_NAME]);
    console.log(`${UNIT_NAME} enabled and started; logs: journalctl -u ${UNIT_NAME}`);
  } else {
    console.log(`to start it: systemctl daemon-reload && systemctl enable --now ${UNIT_NAME}`);
  }
  return 0;
}

export async function runAgentUninstall(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { 'unit-dir': { type: 'string' } });
  if (values.help) {
    console.log(UNINSTALL_HELP);
    return 0;
  }
  const unitDir = path.resolve(values['unit-dir'] ?? DEFAULT_UNIT_DIR);
  const file = path.join(unitDir, UNIT_NAME);
  if (!fs.existsSync(file)) {
    console.error(`burnwatch agent uninstall: no ${file}; nothing to remove`);
    return 1;
  }
  const tellSystemd = values['unit-dir'] === undefined && systemdIsRunning();
  if (tellSystemd) systemctl(['disable', '--now', UNIT_NAME]);
  fs.rmSync(file);
  if (tellSystemd) systemctl(['daemon-reload']);
  console.log(`removed ${file}${tellSystemd ? '' : ` (if systemd runs it: systemctl disable --now ${UNIT_NAME})`}`);
  return 0;
}
