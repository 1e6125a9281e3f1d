// The Prometheus rules a Sloth user would deploy for a burnwatch SLO definition: the same
// objective, period and multi-window burn-rate pairs, written in the shape Sloth generates
// (examples/_gen/getting-started.yml in slok/sloth): per SLO one group of SLI recording rules
// (`slo:sli_error:ratio_rate<window>`, the period's one "optimized" as a mean of the 5-minute
// ratios), one of metadata rules and one of alerts (one alert per severity, an `or` of its
// window pairs, no `for:`). The SLI is what promhttp records: `http_requests_total{code}` for
// availability, `http_request_duration_seconds_{count,bucket}` for latency, as Sloth's docs write
// them. The peer benchmark (bench/peers-slo.ts) loads these into Debian's Prometheus.
import { stringify } from 'yaml';
import { formatDuration } from '../common/duration.ts';
import type { SloDefinition } from '../lambda/slo/definitions.ts';

/** The label every series of a service carries (the backfilled data and the scrape target use it). */
export const SERVICE_LABEL = 'service';
export const REQUESTS_METRIC = 'http_requests_total';
export const DURATION_METRIC = 'http_request_duration_seconds';
/** burnwatch filter shorthands → the labels promhttp puts on the same requests. */
const FILTER_LABELS: Record<string, string> = { route: 'handler', method: 'method', status: 'code' };
const FIVE_MINUTES = 5 * 60_000;

interface RecordingRule {
  record: string;
  expr: string;
  labels: Record<string, string>;
}
interface AlertingRule {
  alert: string;
  expr: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
export interface RuleGroup {
  name: string;
  rules: (RecordingRule | AlertingRule)[];
}

/** Sloth's label values for an SLO: id `<service>-<slo>`, the SLO part being burnwatch's id less its service. */
export function slothLabels(slo: SloDefinition): { sloth_id: string; sloth_service: string; sloth_slo: string } {
  const name = (slo.id.startsWith(`${slo.service}:`) ? slo.id.slice(slo.service.length + 1) : slo.id).replace(/[^A-Za-z0-9_-]/g, '-');
  return { sloth_id: `${slo.service}-${name}`, sloth_service: slo.service, sloth_slo: name };
}

/** A Prometheus duration (`5m`, `6h`, `30d`): the same units as burnwatch's, without `w`. */
export function promDuration(ms: number): string {
  return formatDuration(ms);
}

function periodMs(slo: SloDefinition): number {
  // Sloth knows rolling periods only; a calendar month is given its 30 days.
  return slo.window.kind === 'rolling' ? slo.window.ms : 30 * 86_400_000;
}

function selector(slo: SloDefinition, extra: string[] = []): string {
  const matchers = [`${SERVICE_LABEL}=${JSON.stringify(slo.service)}`];
  for (const [key, values] of Object.entries(slo.filter)) {
    const label = FILTER_LABELS[key];
    if (!label) throw new RangeError(`SLO ${slo.id}: filter key "${key}" has no promhttp label (have ${Object.keys(FILTER_LABELS).join(', ')})`);
    matchers.push(`${label}=~${JSON.stringify(values.map(escapeRegex).join('|'))}`);
  }
  return `{${[...matchers, ...extra].join(',')}}`;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** error_query / total_query of Sloth's `events` SLI, rendered for one window. */
function sliExpr(slo: SloDefinition, window: string): string {
  if (slo.kind === 'availability') {
    return `(sum(rate(${REQUESTS_METRIC}${selector(slo, ['code=~"5.."'])}[${window}])))\n/\n(sum(rate(${REQUESTS_METRIC}${selector(slo)}[${window}])))\n`;
  }
  if (slo.thresholdSeconds === undefined) throw new RangeError(`SLO ${slo.id}: a latency SLO needs thresholdSeconds`);
  // Sloth has no latency SLI type: its docs write it as bucket arithmetic (count − bucket{le}).
  const count = `sum(rate(${DURATION_METRIC}_count${selector(slo)}[${window}]))`;
  const good = `sum(rate(${DURATION_METRIC}_bucket${selector(slo, [`le="${slo.thresholdSeconds}"`])}[${window}]))`;
  return `((${count} - ${good}))\n/\n(${count})\n`;
}

/** The SLI windows: every alert window (ascending), then the period. */
export function sliWindows(slo: SloDefinition): number[] {
  const windows = new Set<number>([FIVE_MINUTES]);
  for (const r of slo.rules) {
    windows.add(r.shortMs);
    windows.add(r.longMs);
  }
  windows.delete(periodMs(slo));
  return [...windows].sort((a, b) => a - b);
}

/** Sloth takes the alert name from the spec (`alerting.name`, e.g. "MyServiceAvailabilitySLO"): one per SLO. */
export function alertName(slo: SloDefinition): string {
  const { sloth_id } = slothLabels(slo);
  return `${sloth_id.split(/[^A-Za-z0-9]+/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}SLO`;
}

export function slothRuleGroups(slo: SloDefinition): RuleGroup[] {
  const ids = slothLabels(slo);
  const idSelector = `{sloth_id="${ids.sloth_id}", sloth_service="${ids.sloth_service}", sloth_slo="${ids.sloth_slo}"}`;
  const ratio = (ms: number) => `slo:sli_error:ratio_rate${promDuration(ms)}`;
  const period = promDuration(periodMs(slo));
  const budget = 1 - slo.objective;
  const sli: RecordingRule[] = sliWindows(slo).map((ms) => ({ record: ratio(ms), expr: sliExpr(slo, promDuration(ms)), labels: { ...ids, sloth_window: promDuration(ms) } }));
  sli.push({
    record: `slo:sli_error:ratio_rate${period}`,
    expr: `sum_over_time(${ratio(FIVE_MINUTES)}${idSelector}[${period}])\n/ ignoring (sloth_window)\ncount_over_time(${ratio(FIVE_MINUTES)}${idSelector}[${period}])\n`,
    // Sloth sets only sloth_window (the ids come from the expression); repeated here, they are
    // what keeps promtool's duplicate-rule lint quiet when several SLOs share a file.
    labels: { ...ids, sloth_window: period },
  });
  const meta: RecordingRule[] = [
    { record: 'slo:objective:ratio', expr: `vector(${slo.objective})`, labels: ids },
    { record: 'slo:error_budget:ratio', expr: `vector(1-${slo.objective})`, labels: ids },
    { record: 'slo:time_period:days', expr: `vector(${periodMs(slo) / 86_400_000})`, labels: ids },
    { record: 'slo:current_burn_rate:ratio', expr: `${ratio(FIVE_MINUTES)}${idSelector}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio${idSelector}\n`, labels: ids },
    { record: 'slo:period_burn_rate:ratio', expr: `slo:sli_error:ratio_rate${period}${idSelector}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio${idSelector}\n`, labels: ids },
    { record: 'slo:period_error_budget_remaining:ratio', expr: `1 - slo:period_burn_rate:ratio${idSelector}`, labels: ids },
    { record: 'sloth_slo_info', expr: 'vector(1)', labels: { ...ids, sloth_mode: 'cli-gen-prom', sloth_spec: 'prometheus/v1', sloth_objective: String(slo.objective * 100) } },
  ];
  const alerts: AlertingRule[] = [];
  for (const severity of [...new Set(slo.rules.map((r) => r.severity))]) {
    const pairs = slo.rules
      .filter((r) => r.severity === severity)
      .map((r) => {
        const over = (ms: number) => `(${ratio(ms)}${idSelector} > (${r.factor} * ${budget}))`;
        return `(\n    ${over(r.shortMs)}\n    and ignoring (sloth_window)\n    ${over(r.longMs)}\n)`;
      });
    alerts.push({
      alert: alertName(slo),
      expr: `${pairs.join('\nor ignoring (sloth_window)\n')}\n`,
      labels: { sloth_severity: severity },
      annotations: {
        summary: `High error rate on '${slo.service}' ${slo.kind}`,
        title: `(${severity}) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast.`,
      },
    });
  }
  return [
    { name: `sloth-slo-sli-recordings-${ids.sloth_id}`, rules: sli },
    { name: `sloth-slo-meta-recordings-${ids.sloth_id}`, rules: meta },
    { name: `sloth-slo-alerts-${ids.sloth_id}`, rules: alerts },
  ];
}

/** A Prometheus rule file (YAML) for these SLOs. */
export function slothRulesYaml(slos: readonly SloDefinition[]): string {
  return `# Sloth-style rules generated by burnwatch bench/sloth-rules.ts.\n${stringify({ groups: slos.flatMap((s) => slothRuleGroups(s)) }, { lineWidth: 0 })}`;
}
