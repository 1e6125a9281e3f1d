// The SLO options of `burnwatch up` (and their environment variables), kept apart from up.ts.
import path from 'node:path';
import { LogNotifier } from '../lambda/notify/log.ts';
import type { Notifier } from '../lambda/notify/types.ts';
import { WebhookNotifier } from '../lambda/notify/webhook.ts';
import type { SloEngineOptions } from '../lambda/slo/engine.ts';
import { durationOption, UsageError } from './args.ts';

export const SLO_OPTIONS = {
  'slo-dir': { type: 'string' },
  webhook: { type: 'string' },
  'webhook-secret': { type: 'string' },
  'slo-interval': { type: 'string' },
  'slo-resolution': { type: 'string' },
  'slo-no-data-after': { type: 'string' },
} as const;

export const SLO_HELP = `SLO options:
  --slo-dir DIR          OpenSLO files (*.yaml, *.yml, *.json; see docs/slo.md), re-read every cycle
  --webhook URL          POST every alert transition there as signed JSON ($BURNWATCH_WEBHOOK_URL)
  --webhook-secret S     HMAC-SHA256 key for X-Burnwatch-Signature ($BURNWATCH_WEBHOOK_SECRET)
  --slo-interval D       evaluate SLOs and alerts every D (default 1m)
  --slo-resolution D     rollup bucket width (default 1m; smaller only for demos and tests)
  --slo-no-data-after D  silence before an SLO's no_data alert fires (default 10 buckets; off: never)`;

type Values = { [K in keyof typeof SLO_OPTIONS]?: string };

export function sloSettings(values: Values, log: (line: string) => void, env = process.env): { engine: Omit<SloEngineOptions, 'metricStore' | 'sloStore'>; intervalMs: number } {
  const notifiers: Notifier[] = [new LogNotifier(log)];
  const url = values.webhook ?? env.BURNWATCH_WEBHOOK_URL;
  if (url) notifiers.push(new WebhookNotifier({ url, secret: values['webhook-secret'] ?? env.BURNWATCH_WEBHOOK_SECRET }));
  const resolutionMs = durationOption(values['slo-resolution'], 'slo-resolution', 60_000);
  if (3_600_000 % resolutionMs !== 0) throw new UsageError(`--slo-resolution must divide an hour (e.g. 1s, 10s, 1m, 5m), got "${values['slo-resolution']}"`);
  return {
    engine: {
      sloDir: values['slo-dir'] === undefined ? undefined : path.resolve(values['slo-dir']),
      notifiers,
      resolutionMs,
      noDataAfterMs: values['slo-no-data-after'] === 'off' ? 0 : durationOption(values['slo-no-data-after'], 'slo-no-data-after', 10 * resolutionMs),
      log,
    },
    intervalMs: durationOption(values['slo-interval'], 'slo-interval', 60_000),
  };
}
