// The simplest notifier: one line per transition on the log (stdout for `burnwatch up`), with
// the top root-cause hint when the alert fired with one.

import type { AlertTransition, Notifier } from './types.ts';

export function alertLine(t: AlertTransition): string {
  const line = `alert ${t.at} ${t.summary} (${t.alert_id}: ${t.from ?? 'new'} → ${t.to})`;
  const top = t.hints?.[0];
  if (top) return `${line} — ${top.kind}: ${top.summary}`;
  // Say why a firing alert has no hint rather than leave the reader to wonder.
  if (t.hints_meta && t.hints_meta.status !== 'computed' && t.hints_meta.message) return `${line} — no hints: ${t.hints_meta.message}`;
  return line;
}

export class LogNotifier implements Notifier {
  readonly name = 'log';
  constructor(private readonly log: (line: string) => void = (l) => console.log(l)) {}

  async notify(t: AlertTransition): Promise<void> {
    this.log(alertLine(t));
  }
}
