// The simplest notifier: one line per transition on the log (stdout for `burnwatch up`).

import type { AlertTransition, Notifier } from './types.ts';

export class LogNotifier implements Notifier {
  readonly name = 'log';
  constructor(private readonly log: (line: string) => void = (l) => console.log(l)) {}

  async notify(t: AlertTransition): Promise<void> {
    this.log(`alert ${t.at} ${t.summary} (${t.alert_id}: ${t.from ?? 'new'} → ${t.to})`);
  }
}
