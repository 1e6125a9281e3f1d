// `burnwatch gate SERVICE`: the release pipeline's question "may we ship?", answered from the
// share of error budget the service's SLOs have consumed — and "no" when there is nothing to
// judge by: a service that stopped answering burns no budget, so silence fails unless allowed.
import { parseDuration } from '../common/duration.ts';
import { NO_DATA_RULE } from '../lambda/slo/definitions.ts';
import type { SloReport } from '../lambda/slo/engine.ts';
import { ApiUnavailable, DEFAULT_ENDPOINT, getApi } from './api-client.ts';
import { parseCommandArgs, UsageError } from './args.ts';

const HELP = `Usage: burnwatch gate SERVICE [--max-burn 0.8] [--window 30d] [--allow-no-data] [--endpoint URL]

Passes when every SLO of SERVICE has consumed at most --max-burn of its error budget
over --window (default: each SLO's own window) and has data, and fails otherwise.
"No data" fails by default: an SLO without requests in the window, or one whose service
went silent (its no_data alert is firing: requests in the window, none lately) — a
service that stopped answering has burned nothing, but it is not healthy.

Options:
  --max-burn F       largest share of the budget that may be consumed, 0..1 (default 0.8)
  --window D         judge over this rolling window instead (e.g. 7d, 30d; at most 90d)
  --allow-no-data    let SLOs without data (or gone silent) pass, noted on their line
  --fail-on-no-data  accepted for older pipelines; failing on no data is now the default
  --endpoint URL     the burnwatch API (default ${DEFAULT_ENDPOINT})
  -h, --help         this help

Exit codes: 0 pass; 1 budget consumed beyond --max-burn, or no data (unless --allow-no-data);
2 usage error, API unreachable, SERVICE has no SLOs (unknown service), or the stored
rollups do not cover the window (the figures would be partial).
The API key is $BURNWATCH_API_KEY (else ~/.burnwatch/api-key).`;

export async function runGate(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    'max-burn': { type: 'string' },
    window: { type: 'string' },
    'allow-no-data': { type: 'boolean' },
    'fail-on-no-data': { type: 'boolean' },
    endpoint: { type: 'string' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'SERVICE is required' : `one SERVICE expected, got ${positionals.join(' ')}`);
  if (values['allow-no-data'] && values['fail-on-no-data']) throw new UsageError('--allow-no-data and --fail-on-no-data contradict each other; failing on no data is the default');
  const service = positionals[0];
  const maxBurn = values['max-burn'] === undefined ? 0.8 : Number(values['max-burn']);
  if (!(maxBurn >= 0 && maxBurn <= 1)) throw new UsageError(`--max-burn must be a number in [0, 1], got "${values['max-burn']}"`);
  if (values.window !== undefined) {
    try {
      parseDuration(values.window);
    } catch (err) {
      throw new UsageError(`--window: ${(err as Error).message}`);
    }
  }
  const query = new URLSearchParams({ service });
  if (values.window !== undefined) query.set('window', values.window);
  let slos: SloReport[];
  try {
    ({ slos } = await getApi<{ slos: SloReport[] }>(values.endpoint ?? DEFAULT_ENDPOINT, `/v1/slos?${query}`));
  } catch (err) {
    if (err instanceof ApiUnavailable) {
      console.error(`burnwatch gate: ${err.message}`);
      return 2;
    }
    throw err;
  }
  if (slos.length === 0) {
    console.error(`burnwatch gate: no SLOs for service "${service}" (it has reported no requests and has no spec); check the name`);
    return 2;
  }
  const verdict = judge(slos, maxBurn, values['allow-no-data'] ?? false);
  for (const line of verdict.lines) console.log(line);
  if (verdict.result === 'partial') {
    console.log(`CANNOT JUDGE ${service}: the rollups do not cover the whole window`);
    return 2;
  }
  const pct = (maxBurn * 100).toFixed(0);
  if (verdict.result === 'pass') console.log(`PASS ${service}: every SLO within ${pct}% of its budget`);
  else console.log(`FAIL ${service}: ${verdict.reasons.join('; ')}`);
  return verdict.result === 'pass' ? 0 : 1;
}

export interface Verdict {
  result: 'pass' | 'fail' | 'partial';
  /** Why it failed, e.g. "budget consumed beyond 80%", "no data". */
  reasons: string[];
  lines: string[];
}

export function judge(slos: readonly SloReport[], maxBurn: number, allowNoData: boolean): Verdict {
  const reasons = new Set<string>();
  let partial = false;
  const noData = (line: string) => {
    if (!allowNoData) reasons.add('no data');
    return `${line} (${allowNoData ? 'passes: --allow-no-data' : 'fails; --allow-no-data lets it pass'})`;
  };
  const lines = slos.map((s) => {
    if (s.covered_from !== undefined) {
      partial = true;
      return `  ${s.id}: rollups cover only from ${s.covered_from}, not the whole ${s.window} window from ${s.window_start}`;
    }
    if (s.budget_remaining === null && s.status === 'unknown') return noData(`  ${s.id}: SLI unknown in ${s.window}: ${s.sli_unknown_reason ?? 'the histogram buckets cannot answer the threshold'}`);
    if (s.budget_remaining === null) return noData(`  ${s.id}: no data in ${s.window}`);
    const consumed = 1 - s.budget_remaining;
    const ok = consumed <= maxBurn;
    if (!ok) reasons.add(`budget consumed beyond ${(maxBurn * 100).toFixed(0)}%`);
    const line = `  ${s.id}: ${(consumed * 100).toFixed(1)}% of the ${s.window} budget consumed (${s.bad} of ${s.total} requests bad, objective ${(s.objective * 100).toFixed(2)}%) — ${ok ? 'ok' : 'over'}`;
    const silent = s.alerts.some((a) => a.rule === NO_DATA_RULE && a.state !== 'resolved');
    return silent ? noData(`${line}; silent: no requests since ${s.last_seen ?? 'the window began'}`) : line;
  });
  return { result: partial ? 'partial' : reasons.size === 0 ? 'pass' : 'fail', reasons: [...reasons], lines };
}
