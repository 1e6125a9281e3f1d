// One SLO: header tiles, the error-budget burn-down, a burn-rate graph per alert window pair,
// the alert table, RED charts with a route breakdown, and the latency heatmap — alert and
// deploy markers on every time axis.

import { api } from '../api.ts';
import { chartBox, heatmapChart, lineChart, type Marker } from '../charts.ts';
import type { PageContext } from '../context.ts';
import { alertMarkers, align, axis, deployMarkers, stepped } from '../data.ts';
import { h } from '../dom.ts';
import { probeNowButton } from '../probe.ts';
import { burn, objectivePct, pct, rate, seconds, seenNote, span, time, windowSeconds } from '../format.ts';
import { budget } from '../../../slo/math.ts';
import { href, stepFor } from '../route.ts';
import { alertText, objectiveText } from '../status.ts';
import type { Alert, Heatmap, SloDetail, Transition } from '../types.ts';

function tile(label: string, value: string, note?: string): HTMLElement {
  return h('div', { class: 'tile' }, h('div', { class: 'tile-label' }, label), h('div', { class: 'tile-value' }, value), note ? h('div', { class: 'tile-note' }, note) : null);
}

/** Burn rate over a trailing window at each step, from per-step good/total. */
export function burnSeries(x: readonly number[], points: readonly { atMs: number; good: number; total: number }[], windowS: number, objective: number): (number | null)[] {
  const allowed = 1 - objective;
  const sorted = [...points].sort((a, b) => a.atMs - b.atMs);
  return x.map((t) => {
    let good = 0;
    let total = 0;
    for (const p of sorted) {
      const at = p.atMs / 1000;
      if (at >= t - windowS && at < t) {
        good += p.good;
        total += p.total;
      }
    }
    return total > 0 && allowed > 0 ? (total - good) / total / allowed : null;
  });
}

export async function renderSlo(ctx: PageContext): Promise<HTMLElement> {
  const id = ctx.route.arg ?? '';
  const { slo } = await api<{ slo: SloDetail & { metrics: string[] } }>(`/v1/slos/${encodeURIComponent(id)}`);
  const { fromS, toS } = ctx;
  const step = stepFor(toS - fromS);
  const metric = slo.metrics[0] ?? 'http.server.request.duration';
  // Each window pair reads from one long window before the range, at a step that keeps that
  // read to a few hundred steps (a 3-day window is not summed from 30-second steps).
  const burnStep = (longS: number) => Math.max(step, stepFor(toS - fromS, 240), Math.ceil(longS / 600));
  const ruleSeries = Promise.all(
    slo.rules.map((r) => {
      const longS = windowSeconds(r.long_window) ?? 0;
      return api<{ objective: number; points: { atMs: number; good: number; total: number }[] }>(`/v1/slos/${encodeURIComponent(slo.id)}/series`, { from: Math.floor(fromS - longS), to: Math.ceil(toS), step: `${burnStep(longS)}s` }).catch(() => ({ objective: slo.objective, points: [] }));
    }),
  );
  const [{ alerts }, { events }, deploys, series, rates, errors, latency, heatmap] = await Promise.all([
    api<{ alerts: Alert[] }>('/v1/alerts', { service: slo.service }),
    api<{ events: Transition[] }>('/v1/alerts/events', { slo_id: slo.id }),
    deployMarkers(slo.service, metric, fromS, toS, step),
    ruleSeries,
    stepped(slo.service, metric, 'rate', fromS, toS, step, 'http.route').catch(() => []),
    stepped(slo.service, metric, 'error_ratio', fromS, toS, step).catch(() => []),
    Promise.all(['p50', 'p90', 'p99'].map((agg) => stepped(slo.service, metric, agg, fromS, toS, step).then((s) => s.map((x) => ({ ...x, labels: { agg } }))).catch(() => []))),
    api<Heatmap>('/v1/heatmap', { service: slo.service, metric, from: Math.floor(fromS), to: Math.ceil(toS), step: `${step}s` }).catch(() => undefined),
  ]);
  const markers: Marker[] = [...alertMarkers(events), ...deploys];
  const seenS = slo.window_seen_seconds ?? null;
  const windowS = windowSeconds(slo.window);
  const youngBurnDown =
    seenS !== null && seenS > 0 && windowS !== undefined && seenS < windowS * 0.1
      ? (async () => {
          const st = stepFor(seenS, 120);
          const startS = toS - seenS - st;
          const r = await api<{ points: { atMs: number; good: number; total: number }[] }>(`/v1/slos/${encodeURIComponent(slo.id)}/series`, { from: Math.floor(startS), to: Math.ceil(toS), step: `${st}s` }).catch(() => ({ points: [] }));
          const x = axis(startS, toS, st);
          let good = 0;
          let total = 0;
          const sorted = [...r.points].sort((p, q) => p.atMs - q.atMs);
          let i = 0;
          const values = x.map((t) => {
            for (; i < sorted.length && sorted[i].atMs / 1000 < t + st; i++) {
              good += sorted[i].good;
              total += sorted[i].total;
            }
            return budget({ good, total }, slo.objective).remaining;
          });
          return { x, values };
        })()
      : undefined;
  const x = axis(fromS, toS, step);
  const xRange: [number, number] = [fromS, toS];
  const seen = seenNote(slo.window_seen_seconds, slo.window);
  const mine = alerts.filter((a) => a.slo_id === slo.id);

  const header = h(
    'div',
    { class: 'tiles' },
    tile('objective', objectiveText(slo, objectivePct, seconds), `over ${slo.window}`),
    tile('SLI', pct(slo.sli, 3), `${slo.good} good of ${slo.total}`),
    tile('budget left', pct(slo.budget_remaining), seen ? `seen ${seen}` : `${Math.floor(slo.budget_remaining_requests)} requests`),
    tile('exhaustion', slo.time_to_exhaustion_seconds === null ? 'not burning' : slo.time_to_exhaustion_seconds === 0 ? 'spent' : `in ${span(slo.time_to_exhaustion_seconds)}`, 'at the 1h burn rate'),
    tile('state', alertText(slo)),
  );

  const charts: (() => void)[] = [];
  const box = (title: string, draw: (b: HTMLElement) => void) => {
    const b = chartBox(title);
    charts.push(() => draw(b));
    return b;
  };
  // A young SLO's window is mostly empty: its burn-down starts at its first request instead,
  // from per-step rollups at a step that suits the time it has seen.
  const young = youngBurnDown ? await youngBurnDown : undefined;
  const burnDown = box(young ? `Error budget left since the first request (${seen})` : `Error budget left over the ${slo.window} window`, (b) =>
    lineChart(b, {
      title: 'budget left',
      x: young ? young.x : slo.burn_down.map((p) => p.t),
      series: [{ label: 'budget left', values: young ? young.values : slo.burn_down.map((p) => p.budget_remaining) }],
      format: (v) => pct(v, 0),
      markers,
      thresholds: [{ value: 0, label: 'budget spent' }],
      yRange: [0, 1],
    }),
  );
  const burnCharts = slo.rules.map((r, i) => {
    const longS = windowSeconds(r.long_window) ?? 0;
    const st = burnStep(longS);
    const x = axis(fromS, toS, st);
    const { points, objective } = series[i];
    return box(`Burn rate ${r.long_window} / ${r.short_window} (${r.severity} at ${r.factor}×)`, (b) =>
      lineChart(b, {
        title: `burn rate ${r.long_window} and ${r.short_window}`,
        x,
        series: [
          { label: `long ${r.long_window}`, values: burnSeries(x, points, longS || st, objective) },
          { label: `short ${r.short_window}${(windowSeconds(r.short_window) ?? 0) < st ? ` (at ${st} s steps)` : ''}`, values: burnSeries(x, points, Math.max(st, windowSeconds(r.short_window) ?? st), objective) },
        ],
        format: (v) => `${Number(v.toPrecision(3))}×`,
        thresholds: [{ value: r.factor, label: `${r.factor}× threshold` }],
        markers,
        xRange,
        fromZero: true,
      }),
    );
  });
  const alertTable = h(
    'table',
    { class: 'alerts', 'aria-label': 'alerts of this SLO' },
    h('thead', {}, h('tr', {}, ...['state', 'severity', 'rule', 'short burn', 'long burn', 'since', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      mine.length
        ? mine.map((a) => {
            const rule = slo.rules.find((r) => r.name === a.rule);
            return h(
              'tr',
              { 'data-alert-id': a.id, class: `state-${a.state}` },
              h('td', { 'data-field': 'state' }, a.state === 'firing' ? '▲ firing' : a.state === 'pending' ? '… pending' : '✓ resolved'),
              h('td', {}, a.severity),
              h('td', {}, a.rule),
              h('td', { class: 'num' }, burn(a.evidence?.short_burn_rate ?? (rule ? a.burn_rates[rule.short_window] : null))),
              h('td', { class: 'num' }, burn(a.evidence?.long_burn_rate ?? (rule ? a.burn_rates[rule.long_window] : null))),
              h('td', {}, time(Date.parse(a.since) / 1000)),
              h('td', {}, h('a', { href: href('incident', a.id, { range: ctx.range }) }, 'incident →')),
            );
          })
        : [h('tr', {}, h('td', { colspan: 7 }, 'No alerts for this SLO.'))],
    ),
  );
  const byRoute = align(x, rates, (s) => s.labels['http.route'] ?? '(no route)');
  const red = [
    box('Request rate by route (req/s)', (b) => lineChart(b, { title: 'request rate by route', ...byRoute, format: rate, markers, xRange, fromZero: true })),
    box('Error ratio', (b) => lineChart(b, { title: 'error ratio', ...align(x, errors, () => 'errors'), format: (v) => pct(v, 1), markers, xRange, fromZero: true })),
    box('Latency p50 / p90 / p99', (b) => lineChart(b, { title: 'latency percentiles', ...align(x, latency.flat(), (s) => s.labels.agg), format: seconds, markers, xRange, ...(slo.threshold_seconds ? { thresholds: [{ value: slo.threshold_seconds, label: `${seconds(slo.threshold_seconds)} threshold` }] } : {}) })),
    box('Latency heatmap (requests per bucket)', (b) => {
      if (heatmap) return heatmapChart(b, heatmap, 'latency heatmap', seconds);
      b.dataset.points = '0';
      b.append(h('p', { class: 'empty' }, 'The heatmap could not be read for this range.'));
    }),
  ];
  const page = h(
    'section',
    { 'aria-labelledby': 'page-title' },
    h('p', { class: 'crumbs' }, h('a', { href: href('slos', undefined, { range: ctx.range }) }, '← all SLOs')),
    h('h1', { id: 'page-title' }, slo.display_name ?? slo.id, h('span', { class: 'sub' }, ` ${slo.service} · ${slo.kind}`)),
    probeNowButton(slo.service),
    slo.sli_unknown_reason ? h('p', { class: 'warn' }, `SLI unknown: ${slo.sli_unknown_reason}`) : null,
    header,
    h('h2', {}, 'Budget'),
    h('div', { class: 'grid1' }, burnDown),
    h('h2', {}, 'Burn rates per alert window pair'),
    h('div', { class: 'grid2' }, burnCharts),
    h('h2', {}, 'Alerts'),
    alertTable,
    h('h2', {}, 'Requests, errors, latency'),
    h('div', { class: 'grid2' }, red),
  );
  // uPlot measures its container: draw once the page is in the document.
  (page as HTMLElement & { afterMount?: () => void }).afterMount = () => charts.forEach((c) => c());
  return page;
}
