// `burnwatch slo status [SERVICE]`: every SLO's budget and burn as a table, from the API.
import { seenNote } from '../common/window-seen.ts';
import { NO_DATA_RULE } from '../lambda/slo/definitions.ts';
import type { SloReport } from '../lambda/slo/engine.ts';
import { ApiUnavailable, DEFAULT_ENDPOINT, getApi } from './api-client.ts';
import { parseCommandArgs, UsageError } from './args.ts';

const HELP = `Usage: burnwatch slo status [SERVICE] [--endpoint URL]

Prints every SLO (or SERVICE's) with its SLI, budget left, burn rates over 5m/1h/6h/3d,
time to exhaustion at the 1h burn, and its alerts (a silent service's no_data alert with
the time it was last seen).

Options:
  --endpoint URL   the burnwatch API (default ${DEFAULT_ENDPOINT})
  -h, --help       this help

The API key is $BURNWATCH_API_KEY (else ~/.burnwatch/api-key).
Exit codes: 0 printed, 2 usage error or API unreachable.`;

const COLUMNS = ['slo', 'service', 'kind', 'objective', 'sli', 'budget left', 'burn 5m', 'burn 1h', 'burn 6h', 'burn 3d', 'exhausts in', 'alerts'] as const;

export async function runSlo(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { endpoint: { type: 'string' } });
  const [sub, service, ...extra] = positionals;
  if (values.help || sub === undefined) {
    console.log(HELP);
    return values.help ? 0 : 2;
  }
  if (sub !== 'status') throw new UsageError(`unknown subcommand "${sub}"; expected "status"`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  try {
    const { slos } = await getApi<{ slos: SloReport[] }>(values.endpoint ?? DEFAULT_ENDPOINT, `/v1/slos${service ? `?service=${encodeURIComponent(service)}` : ''}`);
    console.log(renderSloTable(slos));
    return 0;
  } catch (err) {
    if (err instanceof ApiUnavailable) {
      console.error(`burnwatch slo: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

function pct(v: number | null, digits = 2): string {
  return v === null ? 'no data' : `${(v * 100).toFixed(digits)}%`;
}

/** What a missing figure means: no requests at all, or requests whose latency the buckets cannot tell. */
function missing(s: SloReport): string {
  return s.status === 'unknown' ? 'unknown' : 'no data';
}

function burn(v: number | null): string {
  return v === null ? '—' : `${v.toFixed(2)}×`;
}

export function formatSpan(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds <= 0) return 'spent';
  if (seconds < 3600) return `${Math.round(seconds / 60)}m`;
  if (seconds < 2 * 86400) return `${(seconds / 3600).toFixed(1)}h`;
  return `${(seconds / 86400).toFixed(1)}d`;
}

/** Active alerts as severity:state; a silent service's no-data alert says when it was last seen. */
function alertsCell(s: SloReport): string {
  const active = s.alerts.filter((a) => a.state !== 'resolved');
  const cells = active.map((a) => (a.rule === NO_DATA_RULE ? `no_data:${a.state} (last seen ${s.last_seen ? s.last_seen.replace(/\.\d+Z$/, 'Z') : 'unknown'})` : `${a.severity}:${a.state}`));
  return cells.join(',') || '—';
}

/** ", 12 min of 30 d seen" while the SLO has data for only part of its window. */
function seenSuffix(s: SloReport): string {
  const note = seenNote(s.window_seen_seconds, s.window);
  return note ? `; ${note} seen` : '';
}

export function renderSloTable(slos: readonly SloReport[]): string {
  if (slos.length === 0) return '(no SLOs: no service has reported requests yet)';
  const rows = slos.map((s) => [
    s.id,
    s.service,
    s.kind + (s.threshold_seconds !== undefined ? ` ≤${s.threshold_seconds * 1000}ms` : ''),
    pct(s.objective, 2),
    s.sli === null ? missing(s) : pct(s.sli, 3),
    s.budget_remaining === null ? missing(s) : `${pct(s.budget_remaining, 1)} (${Math.floor(s.budget_remaining_requests)} req${seenSuffix(s)})`,
    burn(s.burn_rates['5m']),
    burn(s.burn_rates['1h']),
    burn(s.burn_rates['6h']),
    burn(s.burn_rates['3d']),
    formatSpan(s.time_to_exhaustion_seconds),
    alertsCell(s),
  ]);
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(COLUMNS), ...rows.map(line)].join('\n');
}
