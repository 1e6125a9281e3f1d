// The AWS notifier: each alert transition published to an SNS topic. Subscribers get what suits
// them (MessageStructure "json"): email a readable text, Lambda/SQS/HTTP the transition as JSON.
// Message attributes (to, severity, service, tenant, hints) let subscriptions filter. `hints`
// says whether root-cause hints are attached: 'pending' on a firing transition the evaluator
// publishes without them — only the hints function subscribes to those; it computes them and
// publishes the same transition again with 'attached', which it does not receive (no loop) and
// people do; 'none' on every other transition. SNS de-duplicates nothing, so receivers use the
// transition's `id` (stable across retries); the SDK retries throttling and 5xx itself.

import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { NO_DATA_RULE } from '../slo/definitions.ts';
import type { AlertTransition, Notifier } from './types.ts';

export type HintsAttribute = 'pending' | 'attached' | 'none';

export function hintsAttribute(t: AlertTransition): HintsAttribute {
  return t.hints !== undefined ? 'attached' : t.to === 'firing' ? 'pending' : 'none';
}

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
    ...hintLines(t),
    '',
    `Transition id: ${t.id}`,
  ].join('\n');
}

/** The top hint in words, with where and what to do next; or why there is none. */
function hintLines(t: AlertTransition): string[] {
  const top = t.hints?.[0];
  if (top) {
    const where = [top.chain.join(' → '), top.peer].filter((x) => x).join(', peer ');
    return [
      '',
      `Likely cause: ${top.kind}: ${top.summary}`,
      `              confidence ${top.confidence.toFixed(2)}, explains ${(top.explained_share * 100).toFixed(0)}% of the damage; where: ${where}`,
      `Next step:    ${top.next_step}`,
      ...(t.hints!.length > 1 ? [`Also:         ${t.hints!.slice(1).map((h) => `${h.kind} (${h.confidence.toFixed(2)})`).join(', ')}`] : []),
    ];
  }
  if (t.hints_meta && t.hints_meta.status !== 'pending') return ['', `Likely cause: none found (${t.hints_meta.message ?? t.hints_meta.status})`];
  return [];
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
    MessageAttributes: { to: attr(t.to), severity: attr(t.severity), service: attr(t.service), tenant: attr(t.tenant), hints: attr(hintsAttribute(t)) },
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
