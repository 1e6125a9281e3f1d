// An incident (one alert episode): its timeline, the ranked hints with their evidence charted
// on the SLI's time axis (the baseline shaded), and the slow requests as waterfalls.

import { api, ApiCallError } from '../api.ts';
import { chartBox, lineChart } from '../charts.ts';
import type { PageContext } from '../context.ts';
import { alertMarkers, align, axis, stepped } from '../data.ts';
import { h } from '../dom.ts';
import { pct, seconds, time } from '../format.ts';
import { href, stepFor } from '../route.ts';
import type { Alert, Evidence, Hint, HintsReport, SlowRequest, Transition } from '../types.ts';

/** As lambda/hints/alert.ts: from 10 min before the episode (at least 15 min) to the end. */
const LEAD_S = 600;
const MIN_WINDOW_S = 900;
const AGGS = new Set(['p50', 'p90', 'p95', 'p99', 'max', 'rate', 'error_ratio', 'count', 'errors']);

function aggregationOf(e: Evidence): string {
  const a = e.labels.aggregation;
  if (a && AGGS.has(a)) return a;
  if (a === 'mean') return 'p50';
  return e.unit === 's' ? 'p99' : 'rate';
}

function formatFor(unit: string): (v: number) => string {
  if (unit === 's') return seconds;
  if (unit === '1' || unit === 'ratio') return (v) => pct(v, 1);
  return (v) => `${Number(v.toPrecision(3))}${unit.startsWith('{') ? '' : ` ${unit}`}`;
}

/** The series of an evidence metric the hint names: every label the query can group by must match. */
async function evidenceSeries(e: Evidence, service: string, fromS: number, toS: number, step: number) {
  const keys = Object.keys(e.labels).filter((k) => k !== 'aggregation' && k !== 'operation' && k !== 'service.name');
  const all = await stepped(e.labels['service.name'] ?? service, e.metric, aggregationOf(e), fromS, toS, step, keys.join(',') || undefined);
  return all.filter((s) => keys.every((k) => s.labels[k] === undefined || s.labels[k] === e.labels[k]));
}

/** The evidence's baseline before the change (or the window) and its incident value after. */
function measured(e: Evidence, x: readonly number[], windowFrom: number) {
  const from = e.changed_at ?? windowFrom;
  return { x: [...x], series: [{ label: 'as the hints engine measured it (no stored series)', values: x.map((t) => (t < from ? e.baseline : e.incident)) }] };
}

/** Build ids and such are long: enough of them to tell apart. */
function short(v: string): string {
  return v.length > 24 ? `${v.slice(0, 16)}…` : v;
}

function waterfall(r: SlowRequest): HTMLElement {
  const scale = (v: number) => `${((v / r.duration) * 100).toFixed(2)}%`;
  const dominant = (c: SlowRequest['subcalls'][number]) => r.dominant !== null && c.peer === r.dominant.peer && c.operation === r.dominant.operation && c.duration === r.dominant.duration;
  return h(
    'div',
    { class: 'waterfall', role: 'group', 'aria-label': `slow request ${r.route}, ${seconds(r.duration)}` },
    h('div', { class: 'wf-head' }, `${time(r.start)}  ${r.route}  ${r.status ?? ''}  ${seconds(r.duration)}`, r.dominant ? h('strong', {}, `  — ${pct(r.dominant.share, 0)} in ${r.dominant.operation} on ${r.dominant.peer}`) : null),
    h('div', { class: 'wf-row' }, h('span', { class: 'wf-label' }, 'request'), h('span', { class: 'wf-track' }, h('span', { class: 'wf-bar req', style: 'left:0;width:100%' }))),
    r.subcalls.map((c) =>
      h(
        'div',
        { class: `wf-row${dominant(c) ? ' dominant' : ''}${c.error ? ' error' : ''}` },
        h('span', { class: 'wf-label' }, `${dominant(c) ? '◆ ' : ''}${c.kind} ${c.operation} → ${c.peer}${c.error ? ' ✖' : ''}`),
        h('span', { class: 'wf-track' }, h('span', { class: 'wf-bar', style: `left:${scale(c.start_offset)};width:${scale(Math.max(c.duration, r.duration / 500))}`, title: seconds(c.duration) })),
        h('span', { class: 'wf-dur' }, seconds(c.duration)),
      ),
    ),
  );
}

export async function renderIncident(ctx: PageContext): Promise<HTMLElement> {
  const id = ctx.route.arg ?? '';
  const { alerts } = await api<{ alerts: Alert[] }>('/v1/alerts');
  const alert = alerts.find((a) => a.id === id);
  if (!alert) throw new ApiCallError(404, 'not_found', `no alert "${id}" (it may have been replaced by a newer episode)`);
  const { events } = await api<{ events: Transition[] }>('/v1/alerts/events', { slo_id: alert.slo_id });
  const mine = events.filter((e) => e.alert_id === alert.id).sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const sinceS = Date.parse(alert.since) / 1000;
  const endS = alert.state === 'resolved' ? Date.parse(alert.updated) / 1000 : Date.now() / 1000;
  const fromS = Math.min(sinceS - LEAD_S, endS - MIN_WINDOW_S);
  const toS = Math.max(endS, sinceS + 60);
  const report = await api<HintsReport>('/v1/hints', { service: alert.service, from: Math.floor(fromS), to: Math.ceil(toS) }).catch(() => undefined);
  const hints: Hint[] = alert.hints.length ? alert.hints : (report?.hints ?? []);
  const axisFrom = report ? report.baseline.from : fromS;
  const step = stepFor(toS - axisFrom, 90);
  const x = axis(axisFrom, toS, step);
  const xRange: [number, number] = [axisFrom, toS];
  const bands = report ? [{ from: report.baseline.from, to: report.baseline.to, label: 'baseline' }] : [];
  const markers = alertMarkers(mine);
  const slow = await api<{ requests: SlowRequest[] }>('/v1/slow', { service: alert.service, from: Math.floor(fromS), to: Math.ceil(toS), limit: 8 }).catch(() => ({ requests: [] }));

  const charts: (() => Promise<void>)[] = [];
  const sliBox = chartBox(`SLI of ${alert.service}: error ratio and p99`);
  charts.push(async () => {
    const [errors, p99] = await Promise.all([
      stepped(alert.service, 'http.server.request.duration', 'error_ratio', axisFrom, toS, step).catch(() => []),
      stepped(alert.service, 'http.server.request.duration', 'p99', axisFrom, toS, step).catch(() => []),
    ]);
    lineChart(sliBox, { title: 'error ratio', ...align(x, errors, () => 'error ratio'), format: (v) => pct(v, 1), bands, markers, xRange, fromZero: true });
    const p99Box = chartBox('p99 latency');
    sliBox.after(p99Box);
    lineChart(p99Box, { title: 'p99 latency', ...align(x, p99, () => 'p99'), format: seconds, bands, markers, xRange });
  });
  const hintList = h(
    'ol',
    { class: 'hints', 'aria-label': 'root-cause hints, most likely first' },
    hints.length
      ? hints.map((hint) => {
          const evidenceBoxes = hint.evidence.slice(0, 3).map((e) => {
            const b = chartBox(`${e.metric} ${Object.entries(e.labels).filter(([k]) => k !== 'aggregation').map(([k, v]) => `${k}=${short(v)}`).join(' ')}: ${formatFor(e.unit)(e.baseline ?? 0)} → ${e.incident === null ? '—' : formatFor(e.unit)(e.incident)}`);
            charts.push(async () => {
              const s = await evidenceSeries(e, hint.service, axisFrom, toS, step).catch(() => []);
              const changed: typeof markers = e.changed_at === null ? [] : [{ at: e.changed_at, tag: '● changed', color: '#d97706' }];
              // A derived signal (e.g. the share of slow requests one call dominated) has no stored
              // series: draw the engine's own before → during figures on the same axis instead.
              const shown = s.length ? align(x, s, (q) => Object.values(q.labels).map(short).join(' ') || e.metric) : measured(e, x, report?.from ?? fromS);
              lineChart(b, { title: e.metric, ...shown, format: formatFor(e.unit), bands, markers: [...markers, ...changed], xRange, fromZero: e.unit !== 's' });
            });
            return b;
          });
          return h(
            'li',
            { class: 'hint', 'data-kind': hint.kind },
            h('div', { class: 'hint-head' }, h('span', { class: 'kind' }, hint.kind), ` ${hint.service}${hint.peer ? ` → ${hint.peer}` : ''}`, hint.chain.length > 1 ? h('span', { class: 'chain' }, ` via ${hint.chain.join(' → ')}`) : null),
            h('p', { class: 'summary' }, hint.summary),
            h('p', { class: 'meta' }, `confidence ${hint.confidence.toFixed(2)} · explains ${pct(hint.explained_share, 0)} of the damage`),
            h('p', { class: 'next' }, `next: ${hint.next_step}`),
            h('div', { class: 'grid2' }, evidenceBoxes),
          );
        })
      : [h('li', {}, report ? 'No hint: nothing measured explains the damage.' : 'Hints are not available for this window.')],
  );
  const page = h(
    'section',
    { 'aria-labelledby': 'page-title' },
    h('p', { class: 'crumbs' }, h('a', { href: href('slo', alert.slo_id, { range: ctx.range }) }, `← ${alert.slo_id}`)),
    h('h1', { id: 'page-title' }, `Incident: ${alert.slo_id} ${alert.rule}`, h('span', { class: `sub state-${alert.state}` }, ` ${alert.state === 'firing' ? '▲ firing' : alert.state === 'pending' ? '… pending' : '✓ resolved'} · ${alert.severity}`)),
    h('h2', {}, 'Timeline'),
    h('ol', { class: 'timeline' }, mine.map((e) => h('li', {}, h('time', { datetime: e.at }, time(Date.parse(e.at) / 1000)), ` ${e.from ?? 'new'} → ${e.to}: ${e.summary}`))),
    h('h2', {}, 'What the SLI did'),
    h('div', { class: 'grid1' }, sliBox),
    h('h2', {}, 'Likely causes'),
    hintList,
    h('h2', {}, 'Slow requests'),
    slow.requests.length ? h('div', { class: 'waterfalls' }, slow.requests.map(waterfall)) : h('p', { class: 'empty' }, 'No slow-request breakdowns in this window.'),
  );
  (page as HTMLElement & { afterMount?: () => void }).afterMount = () => void Promise.all(charts.map((c) => c()));
  return page;
}
