// The only place PromQL text is built. Every selector starts from a tenant, and every value is
// escaped, so neither a missing tenant nor a quote in a service name can widen a query.

import { LABEL } from './prometheus-labels.ts';

/**
 * A PromQL double-quoted string literal. PromQL unquotes with Go's rules, which accept every
 * escape JSON.stringify emits (\" \\ \n \t \uXXXX …), so the value reads back byte for byte.
 */
export function promqlString(value: string): string {
  return JSON.stringify(value);
}

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** `{tenant="…", …}`: a selector over one tenant's series; refuses to exist without a tenant. */
export function tenantSelector(tenant: string, matchers: readonly Matcher[] = []): string {
  if (typeof tenant !== 'string' || tenant === '') throw new Error('a Prometheus query needs a tenant');
  if (matchers.some((m) => m.label === LABEL.tenant)) throw new Error('the tenant matcher is set once, by tenantSelector');
  for (const m of matchers) {
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(m.label)) throw new Error(`not a Prometheus label name: ${JSON.stringify(m.label)}`);
  }
  const all = [{ label: LABEL.tenant, op: '=', value: tenant }, ...matchers];
  return `{${all.map((m) => `${m.label}${m.op}${promqlString(m.value)}`).join(',')}}`;
}

/** A range selector `selector[Nms]`: Prometheus 2.x includes both ends of the range. */
export function rangeSelector(selector: string, rangeMs: number): string {
  if (!Number.isSafeInteger(rangeMs) || rangeMs <= 0) throw new Error(`range must be a positive whole number of ms, got ${rangeMs}`);
  return `${selector}[${rangeMs}ms]`;
}

/** A regular expression that matches exactly `value` (RE2 syntax, as Prometheus uses). */
export function regexLiteral(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}
