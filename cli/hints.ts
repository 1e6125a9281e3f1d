// `burnwatch hints SERVICE [--from --to]`: the ranked root-cause hints of GET /v1/hints, for a
// person — rank, kind, where, the sentence, and each piece of evidence as before → during.
import type { Hint, HintsReport } from '../lambda/hints/types.ts';
import { inUnit } from '../lambda/hints/text.ts';
import { ApiUnavailable, DEFAULT_ENDPOINT, getApi } from './api-client.ts';
import { parseCommandArgs, UsageError } from './args.ts';

const HELP = `Usage: burnwatch hints SERVICE [--from -15m] [--to now] [--json] [--endpoint URL]

What changed in SERVICE's latency and errors over the window, against the hour before it,
and which causes explain it — deepest first, with the evidence (before → during).

Options:
  --from T        start of the window: RFC 3339, unix seconds, "now" or relative ("-15m"); default -15m
  --to T          end of the window; default now
  --json          print the API's JSON instead
  --endpoint URL  the burnwatch API (default ${DEFAULT_ENDPOINT})
  -h, --help      this help

Exit codes: 0 hints printed (including "none"); 2 usage error, API unreachable or unknown service.
The API key is $BURNWATCH_API_KEY (else ~/.burnwatch/api-key).`;

export async function runHints(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    from: { type: 'string' },
    to: { type: 'string' },
    json: { type: 'boolean' },
    endpoint: { type: 'string' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'SERVICE is required' : `one SERVICE expected, got ${positionals.join(' ')}`);
  const query = new URLSearchParams({ service: positionals[0] });
  if (values.from !== undefined) query.set('from', values.from);
  if (values.to !== undefined) query.set('to', values.to);
  let report: HintsReport;
  try {
    report = await getApi<HintsReport>(values.endpoint ?? DEFAULT_ENDPOINT, `/v1/hints?${query}`);
  } catch (err) {
    if (err instanceof ApiUnavailable) {
      console.error(`burnwatch hints: ${err.message}`);
      return 2;
    }
    throw err;
  }
  console.log(values.json ? JSON.stringify(report, null, 2) : renderHints(report));
  return 0;
}

const time = (s: number) => new Date(s * 1000).toISOString().replace('.000Z', 'Z');

export function renderHints(r: HintsReport): string {
  const lines = [`hints for ${r.service}: ${time(r.from)} → ${time(r.to)} (baseline ${time(r.baseline.from)} → ${time(r.baseline.to)})`];
  for (const h of r.hints) lines.push('', ...renderHint(h));
  return lines.join('\n');
}

function renderHint(h: Hint): string[] {
  const where = [h.service, h.peer && `→ ${h.peer}`].filter(Boolean).join(' ');
  const chain = h.chain.length > 1 ? `   via ${h.chain.join(' → ')}` : '';
  const out = [
    `${String(h.rank).padStart(2)}. ${h.kind.padEnd(17)} ${where}${chain}`,
    `    ${h.summary}`,
    `    confidence ${h.confidence.toFixed(2)}, explains ${(h.explained_share * 100).toFixed(0)}% of the damage`,
  ];
  for (const e of h.evidence) {
    const labels = Object.entries(e.labels).map(([k, v]) => `${k}=${v}`).join(' ');
    const changed = e.changed_at === null ? '' : `  (changed ${time(e.changed_at).slice(11)})`;
    out.push(`    · ${e.metric}${labels ? ` {${labels}}` : ''}: ${inUnit(e.baseline, e.unit)} → ${inUnit(e.incident, e.unit)}${changed}`);
  }
  out.push(`    next: ${h.next_step}`);
  return out;
}
