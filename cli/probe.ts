// `burnwatch probe SERVICE [--for 10m]`: asks every agent to attach the costly Go probes (client
// calls, SQL/Redis, lineage, slow-request breakdowns) to SERVICE's processes for a while
// (POST /v1/probes); `--stop` withdraws the request. Agents in `--probes adaptive` mode (the
// default) follow within about 5 s; `burnwatch status` shows what they attached.
import { ApiUnavailable, callApi, DEFAULT_ENDPOINT } from './api-client.ts';
import { parseCommandArgs, UsageError } from './args.ts';

const HELP = `Usage: burnwatch probe SERVICE [--for 10m] [--stop] [--endpoint URL]

Attaches the costly Go probes (outbound HTTP/gRPC calls, SQL and Redis, goroutine
lineage, slow-request breakdowns) to SERVICE's processes on every host whose agent
runs with --probes adaptive (the default), for the given time. They detach by
themselves when it ends. Alerts do the same on their own while an SLO is pending or
firing (plus a cool-down); this is for looking closer without one.

Options:
  --for D         how long (default 10m, at most 1d); a new request replaces the last
  --stop          withdraw SERVICE's request now
  --endpoint URL  the burnwatch API (default ${DEFAULT_ENDPOINT})
  -h, --help      this help

Exit codes: 0 requested; 2 usage error, API unreachable or unknown service.
The API key is $BURNWATCH_API_KEY (else ~/.burnwatch/api-key).`;

interface ProbeAnswer {
  request: { service: string; until: string; for: string };
}

export async function runProbe(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    for: { type: 'string' },
    stop: { type: 'boolean' },
    endpoint: { type: 'string' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'SERVICE is required' : `one SERVICE expected, got ${positionals.join(' ')}`);
  if (values.stop && values.for !== undefined) throw new UsageError('--stop and --for do not go together');
  const [service] = positionals;
  const endpoint = values.endpoint ?? DEFAULT_ENDPOINT;
  try {
    if (values.stop) {
      await callApi(endpoint, `/v1/probes/${encodeURIComponent(service)}`, { method: 'DELETE' });
      console.log(`deep probes request for ${service} withdrawn; agents detach within a few seconds (alerts and cool-downs still hold theirs)`);
      return 0;
    }
    const { request } = await callApi<ProbeAnswer>(endpoint, '/v1/probes', { method: 'POST', body: { service, ...(values.for !== undefined ? { for: values.for } : {}) } });
    console.log(`deep probes requested for ${request.service} for ${request.for} (until ${request.until}); agents attach within about 5 s — see burnwatch status`);
    return 0;
  } catch (err) {
    if (err instanceof ApiUnavailable) {
      console.error(`burnwatch probe: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
