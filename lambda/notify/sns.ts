// The AWS notifier: each alert transition published to an SNS topic. Subscribers get what suits
// them (MessageStructure "json"): email a readable text, Lambda/SQS/HTTP the transition as JSON.
// Message attributes (to, severity, service, tenant) let subscriptions filter — the hints
// function subscribes to `to = firing` only. SNS de-duplicates nothing, so receivers use the
// transition's `id` (stable across retries); the SDK retries throttling and 5xx itself.

import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { NO_DATA_RULE } from '../slo/definitions.ts';
import type { AlertTransition, Notifier } from './types.ts';

/** SNS subjects: printable ASCII, no line breaks, at most 100 characters. */
export function snsSubject(t: AlertTransition): string {
  const text = `[burnwatch] ${t.severity} ${t.to}: ${t.summary}`.replace(/[^\x20-\x7e]/g, '?');
  return text.length > 100 ? `${text.slice(0, 99)}…`.replace('…', '.') : text;
}

export function emailText(t: AlertTransition): string {
  const budget = t.budget_remaining === null ? 'no data' : `${(t.budget_remaining * 100).toFixed(1)}%`;
  return [
    t.summary,
    '',
    `SLO:      ${t.slo_id} (service ${t.service}, tenant ${t.tenant})`,
    `State:    ${t.from ?? 'new'} → ${t.to} at ${t.at} (episode since ${t.since})`,
    ...(t.evidence.rule === NO_DATA_RULE
      ? [`Severity: ${t.severity}; rule ${NO_DATA_RULE}: no requests for ${t.evidence.short_window} (last seen ${t.evidence.last_seen ?? 'not in the window'})`]
      : [
          `Severity: ${t.severity}; rule ${t.evidence.rule}: burn ≥ ${t.evidence.factor}× over ${t.evidence.long_window} and ${t.evidence.short_window}`,
          `Burn:     ${t.evidence.long_window} ${fmt(t.evidence.long_burn_rate)}, ${t.evidence.short_window} ${fmt(t.evidence.short_burn_rate)}`,
        ]),
    `Budget remaining: ${budget}`,
    '',
    `Transition id: ${t.id}`,
  ].join('\n');
}

function fmt(rate: number | null): string {
  return rate === null ? 'no data' : `${rate.toFixed(1)}×`;
}

export function publishInput(topicArn: string, t: AlertTransition) {
  const json = JSON.stringify(t);
  const attr = (v: string) => ({ DataType: 'String', StringValue: v });
  return {
    TopicArn: topicArn,
    Subject: snsSubject(t),
    MessageStructure: 'json',
    Message: JSON.stringify({ default: json, email: emailText(t), 'email-json': json, lambda: json, sqs: json, https: json }),
    MessageAttributes: { to: attr(t.to), severity: attr(t.severity), service: attr(t.service), tenant: attr(t.tenant) },
  };
}

export class SnsNotifier implements Notifier {
  readonly name: string;

  constructor(
    private readonly topicArn: string,
    private readonly client: SNSClient = new SNSClient({}),
  ) {
    this.name = `sns ${topicArn}`;
  }

  async notify(transition: AlertTransition): Promise<void> {
    await this.client.send(new PublishCommand(publishInput(this.topicArn, transition)));
  }
}
