// `burnwatch status`: which services should have their costly Go probes attached and why (an
// alert, a `burnwatch probe` request), and what each agent reports attached per process
// (GET /v1/probes/status; the reports are the agents' burnwatch.agent.probes.deep self-metric,
// so they lag by up to one export interval).
import type { DesiredProbe } from '../common/probes.ts';
import type { ProbeProcessReport } from '../lambda/gateway/probe-routes.ts';
import { ApiUnavailable, DEFAULT_ENDPOINT, getApi } from './api-client.ts';
import { parseCommandArgs, UsageError } from './args.ts';

const HELP = `Usage: burnwatch status [--json] [--endpoint URL]

Deep probes: the services that should have them now and why (an SLO alert pending or
firing, a burnwatch probe request), then every Go process the agents watch with its
probes as last reported (deep or the always-on RED only), the reason, the agent's
--probes mode and how its HTTP server requests are measured outside deep probes
(server RED: Go uprobes, or syscalls for a plaintext HTTP/1-only binary). Agents report once per export interval (default 10 s).

Options:
  --json          print the API's JSON instead
  --endpoint URL  the burnwatch API (default ${DEFAULT_ENDPOINT})
  -h, --help      this help

Exit codes: 0 printed; 2 usage error or API unreachable.
The API key is $BURNWATCH_API_KEY (else ~/.burnwatch/api-key).`;

export interface ProbeStatus {
  services: DesiredProbe[];
  processes: ProbeProcessReport[];
}

export async function runStatus(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' }, endpoint: { type: 'string' } });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`no arguments expected, got ${positionals.join(' ')}`);
  let status: ProbeStatus;
  try {
    status = await getApi<ProbeStatus>(values.endpoint ?? DEFAULT_ENDPOINT, '/v1/probes/status');
  } catch (err) {
    if (err instanceof ApiUnavailable) {
      console.error(`burnwatch status: ${err.message}`);
      return 2;
    }
    throw err;
  }
  console.log(values.json ? JSON.stringify(status, null, 2) : renderStatus(status, Date.now()));
  return 0;
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 19);

function columns(header: readonly string[], rows: readonly string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd());
}

export function renderStatus(s: ProbeStatus, nowMs: number): string {
  const out: string[] = ['Deep probes wanted:'];
  if (s.services.length === 0) out.push('  none (no SLO alert pending or firing, no probe request)');
  else {
    const rows = s.services.map((d) => [
      d.service,
      d.reason,
      d.reason === 'alert' ? `since ${d.since_ms !== undefined ? time(d.since_ms) : '?'} (${(d.slos ?? []).join(', ')})` : `until ${time(d.until_ms ?? nowMs)} (${Math.ceil((d.remaining_ms ?? 0) / 1000)} s left)`,
    ]);
    out.push(...columns(['service', 'why', 'when'], rows).map((l) => `  ${l}`));
  }
  out.push('', 'Processes (as the agents last reported):');
  if (s.processes.length === 0) out.push('  none reported in the last 2 minutes');
  else {
    const rows = s.processes.map((p) => [p.service, p.host, String(p.pid), p.deep ? 'deep' : 'RED only', p.reason ?? '—', p.mode ?? '—', p.server_red ?? '—', `${Math.max(0, Math.round((nowMs - p.at_ms) / 1000))} s ago`]);
    out.push(...columns(['service', 'host', 'pid', 'probes', 'why', 'mode', 'server RED', 'reported'], rows).map((l) => `  ${l}`));
  }
  return out.join('\n');
}
