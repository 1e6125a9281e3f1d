// The home page: every SLO, worst first, with a filter by service and a search box.

import { api } from '../api.ts';
import { sparkline } from '../charts.ts';
import { cached, type PageContext } from '../context.ts';
import { h } from '../dom.ts';
import { burn, objectivePct, pct, seconds, seenNote, span } from '../format.ts';
import { href } from '../route.ts';
import { alertText, objectiveText, worstFirst } from '../status.ts';
import type { Slo, SloDetail } from '../types.ts';

/** Detail reads per refresh for sparklines, at most this many at once. */
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
  const { slos } = await api<{ slos: Slo[] }>('/v1/slos');
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
        h('td', { 'data-field': 'alert', class: `state state-${s.status}` }, alertText(s)),
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
  // Sparklines after the table is on screen: each needs the SLO's burn-down (one detail read).
  void (async () => {
    const queue = [...rows];
    await Promise.all(
      Array.from({ length: SPARK_CONCURRENCY }, async () => {
        for (let r = queue.shift(); r; r = queue.shift()) {
          const d = await cached(ctx, `detail:${r.s.id}`, SPARK_MAX_AGE_MS, () => api<{ slo: SloDetail }>(`/v1/slos/${encodeURIComponent(r.s.id)}`)).catch(() => undefined);
          if (d) r.spark.append(sparkline(d.slo.burn_down.map((p) => p.budget_remaining), `budget left over the ${r.s.window} window`));
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
