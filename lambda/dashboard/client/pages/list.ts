// The home page: every SLO, worst first, with a filter by service and a search box.

import { api } from '../api.ts';
import { sparkline } from '../charts.ts';
import { cached, type PageContext } from '../context.ts';
import { h } from '../dom.ts';
import { burn, objectivePct, pct, seconds, seenNote, span } from '../format.ts';
import { budget } from '../../../slo/math.ts';
import { axis } from '../data.ts';
import { href, stepFor } from '../route.ts';
import { alertText, objectiveText, worstFirst } from '../status.ts';
import type { Alert, Hint, Slo } from '../types.ts';

/** Series reads for sparklines, at most this many at once. */
const SPARK_CONCURRENCY = 4;
const SPARK_MAX_AGE_MS = 60_000;

export function budgetCell(s: Slo): HTMLElement {
  const note = seenNote(s.window_seen_seconds, s.window);
  const frac = s.budget_remaining;
  const width = frac === null ? 0 : Math.max(0, Math.min(1, frac)) * 100;
  return h(
    'td',
    { 'data-field': 'budget' },
    h('div', { class: `bar${frac !== null && frac < 0.25 ? ' low' : ''}`, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(width), 'aria-label': 'error budget left' }, h('span', { style: `width:${width.toFixed(1)}%` })),
    h('span', { class: 'num' }, frac === null ? (s.status === 'unknown' ? 'unknown' : 'no data') : pct(frac)),
    note ? h('span', { class: 'seen', title: 'how much of the window this SLO has data for' }, ` (${note})`) : null,
  );
}

export async function renderList(ctx: PageContext): Promise<HTMLElement> {
  const [{ slos }, { alerts }] = await Promise.all([api<{ slos: Slo[] }>('/v1/slos'), api<{ alerts: Alert[] }>('/v1/alerts', { state: 'firing' })]);
  // The top hint of each SLO's firing alerts (pages before tickets): why, next to how much.
  const topHint = new Map<string, { alert: Alert; hint: Hint }>();
  // Burn-rate alerts before a silence (its hint is about what stopped, not what burns), pages before tickets.
  const rank = (a: Alert) => (a.rule === 'no_data' ? 2 : 0) + (a.severity === 'page' ? 0 : 1);
  for (const a of [...alerts].sort((x, y) => rank(x) - rank(y))) {
    if (a.hints.length && !topHint.has(a.slo_id)) topHint.set(a.slo_id, { alert: a, hint: a.hints[0] });
  }
  const service = ctx.route.params.get('service') ?? '';
  const q = (ctx.route.params.get('q') ?? '').toLowerCase();
  const services = [...new Set(slos.map((s) => s.service))].sort();
  const shown = slos
    .filter((s) => (!service || s.service === service) && (!q || `${s.id} ${s.service} ${s.kind} ${s.display_name ?? ''}`.toLowerCase().includes(q)))
    .sort(worstFirst);
  const setParam = (name: string, value: string) => {
    const params: Record<string, string> = { range: ctx.range, service, q };
    params[name] = value;
    history.replaceState(null, '', href('slos', undefined, params));
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  };
  const filter = h(
    'select',
    { id: 'service-filter', onchange: (e: Event) => setParam('service', (e.target as HTMLSelectElement).value) },
    h('option', { value: '' }, 'all services'),
    services.map((s) => h('option', { value: s, ...(s === service ? { selected: true } : {}) }, s)),
  );
  const search = h('input', { id: 'search', type: 'search', value: q, placeholder: 'search SLOs  ( / )', onchange: (e: Event) => setParam('q', (e.target as HTMLInputElement).value) });
  const rows = shown.map((s) => {
    const spark = h('td', { class: 'spark-cell', 'data-field': 'sparkline' });
    const link = h('a', { href: href('slo', s.id, { range: ctx.range }), class: 'row-link' }, s.display_name ?? s.id);
    return {
      s,
      spark,
      tr: h(
        'tr',
        { 'data-slo-id': s.id, class: `status-${s.status}` },
        h('td', { 'data-field': 'service' }, s.service),
        h('th', { scope: 'row', 'data-field': 'slo' }, link),
        h('td', { 'data-field': 'objective' }, objectiveText(s, objectivePct, seconds)),
        h('td', { class: 'num', 'data-field': 'sli' }, pct(s.sli, 2)),
        budgetCell(s),
        h('td', { class: 'num', 'data-field': 'burn_1h' }, burn(s.burn_rates['1h'])),
        h('td', { class: 'num', 'data-field': 'burn_6h' }, burn(s.burn_rates['6h'])),
        h(
          'td',
          { 'data-field': 'alert' },
          h('span', { class: `state state-${s.status}` }, alertText(s)),
          topHint.has(s.id)
            ? h('a', { class: 'top-hint', href: href('incident', topHint.get(s.id)!.alert.id, { range: ctx.range }) }, `likely ${topHint.get(s.id)!.hint.kind}: ${topHint.get(s.id)!.hint.summary}`)
            : null,
        ),
        h('td', { class: 'num', 'data-field': 'exhaustion' }, s.time_to_exhaustion_seconds === null ? '—' : s.time_to_exhaustion_seconds === 0 ? 'spent' : span(s.time_to_exhaustion_seconds)),
        spark,
      ),
    };
  });
  const table = h(
    'table',
    { class: 'slo-list', 'aria-label': 'SLOs, worst first' },
    h('thead', {}, h('tr', {}, ...['service', 'SLO', 'objective', 'SLI', 'budget left', 'burn 1h', 'burn 6h', 'alert', 'exhaustion', 'budget trend'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r) => r.tr)),
  );
  // Sparklines after the table is on screen: the budget at each step of the range, walked back
  // from the SLO's current window figures through its per-step good/total (one cheap read per
  // SLO; requests leaving the window's far end meanwhile are not subtracted — a 30-day window
  // barely moves within the ranges the picker offers).
  void (async () => {
    const queue = [...rows];
    const step = stepFor(ctx.toS - ctx.fromS, 40);
    await Promise.all(
      Array.from({ length: SPARK_CONCURRENCY }, async () => {
        for (let r = queue.shift(); r; r = queue.shift()) {
          const s = r.s;
          const series = await cached(ctx, `spark:${s.id}:${ctx.range}`, SPARK_MAX_AGE_MS, () =>
            api<{ points: { atMs: number; good: number; total: number }[] }>(`/v1/slos/${encodeURIComponent(s.id)}/series`, { from: Math.floor(ctx.fromS), to: Math.ceil(ctx.toS), step: `${step}s` }),
          ).catch(() => undefined);
          if (!series) continue;
          const x = axis(ctx.fromS, ctx.toS, step);
          let good = s.good - series.points.reduce((n, p) => n + p.good, 0);
          let total = s.total - series.points.reduce((n, p) => n + p.total, 0);
          const byStep = new Map<number, { good: number; total: number }>();
          for (const p of series.points) {
            const t = Math.floor(p.atMs / 1000 / step) * step;
            const e = byStep.get(t) ?? { good: 0, total: 0 };
            byStep.set(t, { good: e.good + p.good, total: e.total + p.total });
          }
          const values = x.map((t) => {
            const p = byStep.get(t);
            if (p) {
              good += p.good;
              total += p.total;
            }
            return budget({ good, total }, s.objective).remaining;
          });
          r.spark.append(sparkline(values, `budget left over the last ${ctx.range}`));
        }
      }),
    );
  })();
  return h(
    'section',
    { 'aria-labelledby': 'page-title' },
    h('h1', { id: 'page-title' }, 'SLOs'),
    h('div', { class: 'toolbar' }, h('label', { for: 'service-filter' }, 'service '), filter, h('label', { for: 'search' }, ' search '), search, h('span', { class: 'count' }, ` ${shown.length} of ${slos.length} SLOs`)),
    shown.length ? table : h('p', { class: 'empty' }, slos.length ? 'No SLO matches.' : 'No SLOs yet: services appear once the agent reports requests.'),
  );
}
