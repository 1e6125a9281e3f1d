// OpenSLO (openslo/v1) documents → SloDefinition. The supported subset is documented in
// docs/slo.md; anything outside it is rejected with the file, the path inside the document and
// the reason, never silently ignored. One bad document never disables the good ones.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseDuration } from '../../common/duration.ts';
import type { AlertSeverity } from '../notify/types.ts';
import {
  BUILTIN_DEFAULTS,
  DEFAULT_SLI_METRICS,
  NO_DATA_RULE,
  type BurnRateRule,
  type SliFilter,
  type SloDefaults,
  type SloDefinition,
  type SloWindow,
} from './definitions.ts';

/**
 * How far YAML aliases may expand (the yaml package's maxAliasCount): an SLO spec has no use for
 * more, and a nested-alias bomb would otherwise expand exponentially in toJS().
 */
export const MAX_ALIAS_COUNT = 100;

export class SpecError extends Error {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${file}: ${path}: ${reason}`);
    this.name = 'SpecError';
  }
}

export interface ParsedSpecs {
  slos: SloDefinition[];
  /** From a `burnwatch/v1 SLODefaults` document, when one was given. */
  defaults?: SloDefaults;
  errors: SpecError[];
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const METRIC_SOURCE_TYPE = 'burnwatch';

type Json = unknown;
type Obj = Record<string, Json>;

/** Thrown inside one document's validation; becomes a SpecError for that document only. */
class Invalid extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

function isObj(v: Json): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: Json, path: string): Obj {
  if (!isObj(v)) throw new Invalid(path, `must be a mapping, got ${describe(v)}`);
  return v;
}

function str(v: Json, path: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new Invalid(path, `must be a non-empty string, got ${describe(v)}`);
  return v;
}

function list(v: Json, path: string): Json[] {
  if (!Array.isArray(v)) throw new Invalid(path, `must be a list, got ${describe(v)}`);
  return v;
}

function describe(v: Json): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return JSON.stringify(v);
}

function only(o: Obj, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new Invalid(`${path}.${k}`, `is not supported (supported here: ${allowed.join(', ')})`);
  }
}

function duration(v: Json, path: string): number {
  const text = typeof v === 'number' ? `${v}s` : str(v, path);
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new Invalid(path, (err as Error).message);
  }
  if (!(ms > 0)) throw new Invalid(path, 'must be positive');
  return ms;
}

/** Durations of `alertAfter` may be zero ("0m"). */
function durationOrZero(v: Json, path: string): number {
  if (v === 0 || (typeof v === 'string' && /^0+(ms|s|m|h|d|w)?$/.test(v.trim()))) return 0;
  return duration(v, path);
}

/** Parses one text (YAML, possibly several `---` documents, or JSON) into definitions and errors. */
export function parseSpecText(text: string, file: string, source: 'file' | 'api', base: SloDefaults = BUILTIN_DEFAULTS): ParsedSpecs {
  const out: ParsedSpecs = { slos: [], errors: [] };
  let docs: YAML.Document.Parsed[];
  try {
    docs = YAML.parseAllDocuments(text) as YAML.Document.Parsed[];
  } catch (err) {
    out.errors.push(new SpecError(file, '(document)', `not YAML or JSON: ${(err as Error).message}`));
    return out;
  }
  if (!Array.isArray(docs)) docs = [docs];
  const multi = docs.length > 1;
  // Defaults first: SLOs in the same text without alert policies inherit its rules and window.
  const values = docs.map((d, i) => ({ d, at: multi ? `[${i}]` : '' }));
  let defaults = base;
  const sloDocs: { value: Obj; at: string }[] = [];
  for (const { d, at } of values) {
    if (d.errors.length > 0) {
      out.errors.push(new SpecError(file, at || '(document)', `not valid YAML: ${d.errors[0].message.split('\n')[0]}`));
      continue;
    }
    let value: Json;
    try {
      value = d.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Json;
    } catch (err) {
      // yaml throws a ReferenceError when aliases expand past maxAliasCount (a "billion laughs"
      // bomb): the document is refused before it is expanded, so memory never grows with it.
      out.errors.push(new SpecError(file, at || '(document)', `not accepted: YAML aliases expand to more than ${MAX_ALIAS_COUNT} nodes (${(err as Error).message}); write the values out instead of aliasing them`));
      continue;
    }
    if (value === null || value === undefined) continue;
    // A JSON (or YAML) list of documents is taken as several documents.
    const items: [Json, string][] = Array.isArray(value) ? value.map((v, j) => [v, `${at}[${j}]`]) : [[value, at]];
    for (const [item, itemAt] of items) {
      try {
        const doc = obj(item, itemAt || '(document)');
        if (doc.apiVersion === 'burnwatch/v1' && doc.kind === 'SLODefaults') {
          defaults = parseDefaults(doc, itemAt, base);
          out.defaults = defaults;
        } else sloDocs.push({ value: doc, at: itemAt });
      } catch (err) {
        if (!(err instanceof Invalid)) throw err;
        out.errors.push(new SpecError(file, err.path, err.reason));
      }
    }
  }
  for (const { value, at } of sloDocs) {
    try {
      out.slos.push({ ...parseSlo(value, at, defaults), source, ...(source === 'file' ? { file } : {}) });
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      out.errors.push(new SpecError(file, err.path, err.reason));
    }
  }
  return out;
}

function p(at: string, rest: string): string {
  return at ? `${at}.${rest}` : rest;
}

function parseSlo(doc: Obj, at: string, defaults: SloDefaults): Omit<SloDefinition, 'source'> {
  if (doc.apiVersion !== 'openslo/v1') throw new Invalid(p(at, 'apiVersion'), `must be "openslo/v1", got ${describe(doc.apiVersion)}`);
  if (doc.kind !== 'SLO') throw new Invalid(p(at, 'kind'), `must be "SLO" (or apiVersion burnwatch/v1 kind SLODefaults), got ${describe(doc.kind)}`);
  only(doc, at || '(document)', ['apiVersion', 'kind', 'metadata', 'spec']);
  const metadata = obj(doc.metadata, p(at, 'metadata'));
  const id = str(metadata.name, p(at, 'metadata.name'));
  if (id.length > 63 || !NAME.test(id)) throw new Invalid(p(at, 'metadata.name'), `"${id}" must be an RFC 1123 label: lower-case letters, digits and '-', at most 63 characters`);
  const spec = obj(doc.spec, p(at, 'spec'));
  only(spec, p(at, 'spec'), ['description', 'service', 'indicator', 'indicatorRef', 'timeWindow', 'budgetingMethod', 'objectives', 'alertPolicies']);
  if (spec.indicatorRef !== undefined) throw new Invalid(p(at, 'spec.indicatorRef'), 'is not supported; put the indicator inline under spec.indicator');
  const service = str(spec.service, p(at, 'spec.service'));
  if (spec.budgetingMethod !== undefined && spec.budgetingMethod !== 'Occurrences') {
    throw new Invalid(p(at, 'spec.budgetingMethod'), `only "Occurrences" (good/total requests) is supported, got ${describe(spec.budgetingMethod)}`);
  }
  const indicator = parseIndicator(spec.indicator, p(at, 'spec.indicator'));
  const objective = parseObjectives(spec.objectives, p(at, 'spec.objectives'), indicator.kind);
  const window = spec.timeWindow === undefined ? defaults.window : parseTimeWindow(spec.timeWindow, p(at, 'spec.timeWindow'));
  const rules = spec.alertPolicies === undefined ? defaults.rules : parseAlertPolicies(spec.alertPolicies, p(at, 'spec.alertPolicies'));
  const out: Omit<SloDefinition, 'source'> = { id, service, kind: indicator.kind, objective: objective.target, metrics: indicator.metrics, filter: indicator.filter, window, rules };
  if (objective.thresholdSeconds !== undefined) out.thresholdSeconds = objective.thresholdSeconds;
  if (typeof metadata.displayName === 'string') out.displayName = metadata.displayName;
  if (typeof spec.description === 'string') out.description = spec.description;
  return out;
}

interface Selection {
  metrics: string[];
  filter: SliFilter;
}

function parseIndicator(v: Json, path: string): Selection & { kind: SloDefinition['kind'] } {
  const indicator = obj(v, path);
  const spec = obj(indicator.spec, `${path}.spec`);
  only(spec, `${path}.spec`, ['description', 'ratioMetric', 'thresholdMetric']);
  if ((spec.ratioMetric === undefined) === (spec.thresholdMetric === undefined)) {
    throw new Invalid(`${path}.spec`, 'must have exactly one of ratioMetric (availability) or thresholdMetric (latency)');
  }
  if (spec.thresholdMetric !== undefined) {
    const t = obj(spec.thresholdMetric, `${path}.spec.thresholdMetric`);
    return { kind: 'latency', ...parseMetricSource(t.metricSource, `${path}.spec.thresholdMetric.metricSource`) };
  }
  const r = obj(spec.ratioMetric, `${path}.spec.ratioMetric`);
  only(r, `${path}.spec.ratioMetric`, ['counter', 'good', 'bad', 'total']);
  if (r.counter !== undefined && r.counter !== true) throw new Invalid(`${path}.spec.ratioMetric.counter`, 'must be true (burnwatch counts requests)');
  if ((r.good === undefined) === (r.bad === undefined)) throw new Invalid(`${path}.spec.ratioMetric`, 'must have exactly one of good or bad, and total');
  const rp = `${path}.spec.ratioMetric`;
  const total = parseMetricSource(obj(r.total, `${rp}.total`).metricSource, `${rp}.total.metricSource`);
  const which = r.good !== undefined ? 'good' : 'bad';
  // good/bad are fixed by burnwatch's definition of a server error; their source may only repeat total's selection.
  const partSource = obj(r[which], `${rp}.${which}`).metricSource;
  const part = parseMetricSource(partSource, `${rp}.${which}.metricSource`);
  const partSpec = obj(partSource, `${rp}.${which}.metricSource`).spec;
  if (partSpec !== undefined && JSON.stringify(part) !== JSON.stringify(total)) {
    throw new Invalid(`${rp}.${which}.metricSource.spec`, `must select the same requests as total (or be left out): ${which} requests are always the ${which === 'bad' ? 'server errors' : 'non-server-errors'} among them`);
  }
  return { kind: 'availability', ...total };
}

function parseMetricSource(v: Json, path: string): Selection {
  const src = obj(v, path);
  only(src, path, ['type', 'spec', 'metricSourceRef']);
  if (src.metricSourceRef !== undefined) throw new Invalid(`${path}.metricSourceRef`, 'is not supported; burnwatch reads its own store (type: burnwatch)');
  if (src.type !== METRIC_SOURCE_TYPE) throw new Invalid(`${path}.type`, `must be "${METRIC_SOURCE_TYPE}", got ${describe(src.type)}`);
  if (src.spec === undefined) return { metrics: [...DEFAULT_SLI_METRICS], filter: {} };
  const spec = obj(src.spec, `${path}.spec`);
  only(spec, `${path}.spec`, ['metrics', 'filter']);
  const metrics = spec.metrics === undefined ? [...DEFAULT_SLI_METRICS] : list(spec.metrics, `${path}.spec.metrics`).map((m, i) => str(m, `${path}.spec.metrics[${i}]`));
  if (metrics.length === 0) throw new Invalid(`${path}.spec.metrics`, 'must name at least one metric');
  // Built from entries, not by assignment: an attribute named `__proto__` is a key like any other.
  const entries: [string, string[]][] = [];
  if (spec.filter !== undefined) {
    const f = obj(spec.filter, `${path}.spec.filter`);
    for (const [key, value] of Object.entries(f)) {
      const values = Array.isArray(value) ? value : [value];
      if (values.length === 0) throw new Invalid(`${path}.spec.filter.${key}`, 'must list at least one value');
      entries.push([
        key,
        values.map((x, i) => {
          if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') throw new Invalid(`${path}.spec.filter.${key}[${i}]`, `must be a string or number, got ${describe(x)}`);
          return String(x);
        }),
      ]);
    }
  }
  const filter: SliFilter = Object.fromEntries(entries);
  return { metrics, filter };
}

function parseObjectives(v: Json, path: string, kind: SloDefinition['kind']): { target: number; thresholdSeconds?: number } {
  const objectives = list(v, path);
  if (objectives.length !== 1) throw new Invalid(path, `must have exactly one objective (write one SLO per objective), got ${objectives.length}`);
  const o = obj(objectives[0], `${path}[0]`);
  only(o, `${path}[0]`, ['displayName', 'op', 'value', 'target', 'targetPercent']);
  let target: number;
  if ((o.target === undefined) === (o.targetPercent === undefined)) throw new Invalid(`${path}[0]`, 'must have exactly one of target (0..1) or targetPercent (0..100)');
  if (o.target !== undefined) {
    if (typeof o.target !== 'number' || !(o.target > 0 && o.target < 1)) throw new Invalid(`${path}[0].target`, `must be a number in (0, 1), e.g. 0.999, got ${describe(o.target)}`);
    target = o.target;
  } else {
    if (typeof o.targetPercent !== 'number' || !(o.targetPercent > 0 && o.targetPercent < 100)) throw new Invalid(`${path}[0].targetPercent`, `must be a number in (0, 100), e.g. 99.9, got ${describe(o.targetPercent)}`);
    target = o.targetPercent / 100;
  }
  if (kind === 'availability') {
    if (o.op !== undefined || o.value !== undefined) throw new Invalid(`${path}[0]`, 'op and value belong to thresholdMetric (latency) SLOs only');
    return { target };
  }
  if (o.op !== 'lte') throw new Invalid(`${path}[0].op`, `must be "lte" (a request is good when its duration ≤ value), got ${describe(o.op)}`);
  const seconds = typeof o.value === 'number' ? o.value : duration(o.value, `${path}[0].value`) / 1000;
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new Invalid(`${path}[0].value`, `must be a positive duration in seconds (0.3) or with a unit ("300ms"), got ${describe(o.value)}`);
  return { target, thresholdSeconds: seconds };
}

function parseTimeWindow(v: Json, path: string): SloWindow {
  const windows = list(v, path);
  if (windows.length !== 1) throw new Invalid(path, `must have exactly one item, got ${windows.length}`);
  const w = obj(windows[0], `${path}[0]`);
  only(w, `${path}[0]`, ['duration', 'isRolling', 'calendar']);
  const d = str(w.duration, `${path}[0].duration`);
  if (w.isRolling === false) {
    if (d !== '1M') throw new Invalid(`${path}[0].duration`, `calendar windows support "1M" (a calendar month) only, got "${d}"`);
    if (w.calendar !== undefined) {
      const c = obj(w.calendar, `${path}[0].calendar`);
      only(c, `${path}[0].calendar`, ['startTime', 'timeZone']);
      if (c.timeZone !== undefined && !['UTC', 'Etc/UTC'].includes(c.timeZone as string)) {
        throw new Invalid(`${path}[0].calendar.timeZone`, `only UTC is supported, got ${describe(c.timeZone)}`);
      }
    }
    return { kind: 'calendar-month' };
  }
  if (w.isRolling !== true) throw new Invalid(`${path}[0].isRolling`, `must be true or false, got ${describe(w.isRolling)}`);
  const ms = duration(d, `${path}[0].duration`);
  if (ms > 90 * 86_400_000) throw new Invalid(`${path}[0].duration`, `rolling windows up to 90d are supported, got "${d}"`);
  return { kind: 'rolling', ms };
}

function parseAlertPolicies(v: Json, path: string): BurnRateRule[] {
  const rules: BurnRateRule[] = [];
  list(v, path).forEach((item, i) => {
    const at = `${path}[${i}]`;
    const policy = obj(item, at);
    if (policy.alertPolicyRef !== undefined) throw new Invalid(`${at}.alertPolicyRef`, 'is not supported; put the policy inline');
    if (policy.kind !== undefined && policy.kind !== 'AlertPolicy') throw new Invalid(`${at}.kind`, `must be "AlertPolicy", got ${describe(policy.kind)}`);
    const spec = obj(policy.spec, `${at}.spec`);
    const conditions = list(spec.conditions, `${at}.spec.conditions`);
    if (conditions.length === 0) throw new Invalid(`${at}.spec.conditions`, 'must have at least one condition');
    conditions.forEach((c, j) => rules.push(parseCondition(c, `${at}.spec.conditions[${j}]`)));
  });
  const names = new Set<string>();
  for (const r of rules) {
    if (names.has(r.name)) throw new Invalid(path, `two conditions are named "${r.name}"; names must be unique within an SLO`);
    if (r.name === NO_DATA_RULE) throw new Invalid(path, `"${NO_DATA_RULE}" is the name of every SLO's own no-data alert; name the condition otherwise`);
    names.add(r.name);
  }
  return rules;
}

function parseCondition(v: Json, at: string): BurnRateRule {
  const c = obj(v, at);
  if (c.conditionRef !== undefined) throw new Invalid(`${at}.conditionRef`, 'is not supported; put the condition inline');
  if (c.kind !== undefined && c.kind !== 'AlertCondition') throw new Invalid(`${at}.kind`, `must be "AlertCondition", got ${describe(c.kind)}`);
  const spec = obj(c.spec, `${at}.spec`);
  const severity = String(spec.severity ?? '').toLowerCase();
  if (severity !== 'page' && severity !== 'ticket') throw new Invalid(`${at}.spec.severity`, `must be "page" or "ticket", got ${describe(spec.severity)}`);
  const cond = obj(spec.condition, `${at}.spec.condition`);
  only(cond, `${at}.spec.condition`, ['kind', 'op', 'threshold', 'lookbackWindow', 'alertAfter', 'shortWindow']);
  if (cond.kind !== 'burnrate') throw new Invalid(`${at}.spec.condition.kind`, `must be "burnrate", got ${describe(cond.kind)}`);
  if (cond.op !== undefined && cond.op !== 'gt' && cond.op !== 'gte') throw new Invalid(`${at}.spec.condition.op`, `must be "gt" (burn rate above threshold), got ${describe(cond.op)}`);
  if (typeof cond.threshold !== 'number' || !(cond.threshold > 0)) throw new Invalid(`${at}.spec.condition.threshold`, `must be a positive burn-rate factor, e.g. 14.4, got ${describe(cond.threshold)}`);
  const longMs = duration(cond.lookbackWindow, `${at}.spec.condition.lookbackWindow`);
  // The Workbook's guideline: a short window of 1/12 the long one (1h → 5m, 6h → 30m, 3d → 6h).
  const shortMs = cond.shortWindow === undefined ? longMs / 12 : duration(cond.shortWindow, `${at}.spec.condition.shortWindow`);
  if (shortMs > longMs) throw new Invalid(`${at}.spec.condition.shortWindow`, 'must not be longer than lookbackWindow');
  const forMs = cond.alertAfter === undefined ? 0 : durationOrZero(cond.alertAfter, `${at}.spec.condition.alertAfter`);
  const metadata = c.metadata === undefined ? {} : obj(c.metadata, `${at}.metadata`);
  const name = typeof metadata.name === 'string' && metadata.name ? metadata.name : `${severity}-${compact(longMs)}-${compact(shortMs)}`;
  return { name, severity: severity as AlertSeverity, factor: cond.threshold, longMs, shortMs, forMs };
}

function compact(ms: number): string {
  for (const [u, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) if (ms % size === 0) return `${ms / size}${u}`;
  return `${ms}ms`;
}

function parseDefaults(doc: Obj, at: string, base: SloDefaults): SloDefaults {
  only(doc, at || '(document)', ['apiVersion', 'kind', 'metadata', 'spec']);
  const spec = obj(doc.spec, p(at, 'spec'));
  only(spec, p(at, 'spec'), ['availability', 'latency', 'timeWindow', 'alertPolicies']);
  const out: SloDefaults = { ...base };
  if (spec.availability !== undefined) {
    const a = obj(spec.availability, p(at, 'spec.availability'));
    only(a, p(at, 'spec.availability'), ['enabled', 'target']);
    if (a.enabled === false) out.availability = null;
    else out.availability = { objective: target(a.target ?? base.availability?.objective, p(at, 'spec.availability.target')) };
  }
  if (spec.latency !== undefined) {
    const l = obj(spec.latency, p(at, 'spec.latency'));
    only(l, p(at, 'spec.latency'), ['enabled', 'target', 'threshold']);
    if (l.enabled === false) out.latency = null;
    else {
      const threshold = l.threshold === undefined ? base.latency?.thresholdSeconds ?? BUILTIN_DEFAULTS.latency!.thresholdSeconds : typeof l.threshold === 'number' ? l.threshold : duration(l.threshold, p(at, 'spec.latency.threshold')) / 1000;
      if (!(threshold > 0)) throw new Invalid(p(at, 'spec.latency.threshold'), 'must be a positive duration');
      out.latency = { objective: target(l.target ?? base.latency?.objective ?? BUILTIN_DEFAULTS.latency!.objective, p(at, 'spec.latency.target')), thresholdSeconds: threshold };
    }
  }
  if (spec.timeWindow !== undefined) out.window = parseTimeWindow(spec.timeWindow, p(at, 'spec.timeWindow'));
  if (spec.alertPolicies !== undefined) out.rules = parseAlertPolicies(spec.alertPolicies, p(at, 'spec.alertPolicies'));
  return out;
}

function target(v: Json, path: string): number {
  if (typeof v !== 'number' || !(v > 0 && v < 1)) throw new Invalid(path, `must be a number in (0, 1), e.g. 0.999, got ${describe(v)}`);
  return v;
}

/**
 * Every *.yaml, *.yml and *.json file in `dir` (not recursive), in name order. A file that
 * cannot be read or parsed contributes errors only; duplicate SLO names keep the first.
 */
export function loadSpecDir(dir: string, base: SloDefaults = BUILTIN_DEFAULTS): ParsedSpecs {
  const out: ParsedSpecs = { slos: [], errors: [] };
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /\.(ya?ml|json)$/i.test(n)).sort();
  } catch (err) {
    out.errors.push(new SpecError(dir, '(directory)', (err as Error).message));
    return out;
  }
  // Defaults documents apply to every file, so they are read in a first pass.
  const texts = new Map<string, string>();
  for (const name of names) {
    const file = join(dir, name);
    try {
      texts.set(file, readFileSync(file, 'utf8'));
    } catch (err) {
      out.errors.push(new SpecError(file, '(file)', (err as Error).message));
    }
  }
  let defaults = base;
  for (const [file, text] of texts) {
    const parsed = parseSpecText(text, file, 'file', base);
    if (parsed.defaults) {
      defaults = parsed.defaults;
      out.defaults = defaults;
    }
  }
  const seen = new Map<string, string>();
  for (const [file, text] of texts) {
    const parsed = parseSpecText(text, file, 'file', defaults);
    out.errors.push(...parsed.errors);
    for (const slo of parsed.slos) {
      const first = seen.get(slo.id);
      if (first !== undefined) {
        out.errors.push(new SpecError(file, 'metadata.name', `"${slo.id}" is already defined in ${first}; ignoring this one`));
        continue;
      }
      seen.set(slo.id, file);
      out.slos.push(slo);
    }
  }
  return out;
}
