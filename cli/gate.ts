// `burnwatch gate SERVICE`: the release pipeline's question "may we ship?", answered from the
// share of error budget the service's SLOs have consumed.
import { parseDuration } from '../common/duration.ts';
import type { SloReport } from '../lambda/slo/engine.ts';
import { ApiUnavailable, DEFAULT_ENDPOINT, getApi } from './api-client.ts';
import { parseCommandArgs, UsageError } from './args.ts';

const HELP = `Usage: burnwatch gate SERVICE [--max-burn 0.8] [--window 30d] [--fail-on-no-data] [--endpoint URL]

Passes when every SLO of SERVICE has consumed at most --max-burn of its error budget
over --window (default: each SLO's own window), and fails otherwise.

Options:
  --max-burn F       largest share of the budget that may be consumed, 0..1 (default 0.8)
  --window D         judge over this rolling window instead (e.g. 7d, 30d)
  --fail-on-no-data  fail when an SLO has no requests in the window (default: it passes, noted)
  --endpoint URL     the burnwatch API (default ${DEFAULT_ENDPOINT})
  -h, --help         this help

Exit codes: 0 pass; 1 budget consumed beyond --max-burn (or no data with --fail-on-no-data);
2 usage error, API unreachable, or SERVICE has no SLOs (unknown service).
The API key is $BURNWATCH_API_KEY (else ~/.burnwatch/api-key).`;

export async function runGate(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    'max-burn': { type: 'string' },
    window: { type: 'string' },
    'fail-on-no-data': { type: 'boolean' },
    endpoint: { type: 'string' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'SERVICE is required' : `one SERVICE expected, got ${positionals.join(' ')}`);
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
  const verdict = judge(slos, maxBurn, values['fail-on-no-data'] ?? false);
  for (const line of verdict.lines) console.log(line);
  console.log(verdict.pass ? `PASS ${service}: every SLO within ${(maxBurn * 100).toFixed(0)}% of its budget` : `FAIL ${service}: budget consumed beyond ${(maxBurn * 100).toFixed(0)}%`);
  return verdict.pass ? 0 : 1;
}

export function judge(slos: readonly SloReport[], maxBurn: number, failOnNoData: boolean): { pass: boolean; lines: string[] } {
  let pass = true;
  const lines = slos.map((s) => {
    if (s.budget_remaining === null) {
      if (failOnNoData) pass = false;
      return `  ${s.id}: no data in ${s.window} (${failOnNoData ? 'fails: --fail-on-no-data' : 'passes: nothing has burned'})`;
    }
    const consumed = 1 - s.budget_remaining;
    const ok = consumed <= maxBurn;
    if (!ok) pass = false;
    return `  ${s.id}: ${(consumed * 100).toFixed(1)}% of the ${s.window} budget consumed (${s.bad} of ${s.total} requests bad, objective ${(s.objective * 100).toFixed(2)}%) — ${ok ? 'ok' : 'over'}`;
  });
  return { pass, lines };
}
