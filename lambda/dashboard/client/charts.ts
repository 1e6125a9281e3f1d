// Charts on uPlot. Every chart carries an aria-label that says what it shows and a data-points
// count (what the tests check, and what a screen reader hears instead of the canvas); markers
// carry a text tag as well as a colour, and series differ by dash as well as by colour.

import uPlot from 'uplot';
import { h } from './dom.ts';

export interface Marker {
  /** Unix seconds. */
  at: number;
  /** Short tag drawn at the top of the line ("firing", "deploy"). */
  tag: string;
  color: string;
}

export interface LineSeries {
  label: string;
  values: (number | null)[];
  color?: string;
}

export interface LineChartOptions {
  title: string;
  x: number[];
  series: LineSeries[];
  /** How y values read (axis and legend). */
  format?: (v: number) => string;
  markers?: Marker[];
  /** Time spans shaded behind the series (e.g. the hints' baseline). */
  bands?: { from: number; to: number; label: string }[];
  /** Horizontal reference lines (e.g. a burn-rate threshold). */
  thresholds?: { value: number; label: string }[];
  xRange?: [number, number];
  height?: number;
  /** Draw y from zero (rates, ratios) rather than fitting the data. */
  fromZero?: boolean;
  /** Fixed y range, widened to the data when it goes beyond (budgets: 0–100%). */
  yRange?: [number, number];
}

const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];
const DASHES: number[][] = [[], [6, 3], [2, 3], [8, 3, 2, 3]];

export function chartBox(title: string): HTMLElement {
  return h('figure', { class: 'chart' }, h('figcaption', {}, title));
}

function widthOf(el: HTMLElement): number {
  return Math.max(280, Math.floor(el.getBoundingClientRect().width || el.parentElement?.getBoundingClientRect().width || 600) - 4);
}

export function lineChart(box: HTMLElement, o: LineChartOptions): uPlot {
  const fmt = o.format ?? ((v: number) => String(Number(v.toPrecision(3))));
  const points = o.series.reduce((n, s) => n + s.values.filter((v) => v !== null && Number.isFinite(v)).length, 0);
  box.dataset.points = String(points);
  box.setAttribute('role', 'img');
  box.setAttribute('aria-label', `${o.title}: ${o.series.map((s) => s.label).join(', ')}; ${points} data points${o.markers?.length ? `; markers: ${o.markers.map((m) => m.tag).join(', ')}` : ''}`);
  const drawExtras = (u: uPlot) => {
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    for (const b of o.bands ?? []) {
      const x0 = u.valToPos(b.from, 'x', true);
      const x1 = u.valToPos(b.to, 'x', true);
      ctx.fillStyle = 'rgba(100,116,139,0.15)';
      ctx.fillRect(Math.max(left, x0), top, Math.min(left + width, x1) - Math.max(left, x0), height);
      ctx.fillStyle = '#475569';
      ctx.font = `${11 * devicePixelRatio}px sans-serif`;
      ctx.fillText(b.label, Math.max(left, x0) + 4, top + 12 * devicePixelRatio);
    }
    for (const t of o.thresholds ?? []) {
      const y = u.valToPos(t.value, 'y', true);
      if (y < top || y > top + height) continue;
      ctx.strokeStyle = '#dc2626';
      ctx.setLineDash([6, 4]);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(left + width, y);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = '#dc2626';
      ctx.font = `${11 * devicePixelRatio}px sans-serif`;
      ctx.fillText(t.label, left + width - ctx.measureText(t.label).width - 4, y - 4);
    }
    for (const m of o.markers ?? []) {
      const x = u.valToPos(m.at, 'x', true);
      if (x < left || x > left + width) continue;
      ctx.strokeStyle = m.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.fillStyle = m.color;
      ctx.font = `bold ${10 * devicePixelRatio}px sans-serif`;
      ctx.fillText(m.tag, x + 3, top + height - 4);
    }
    ctx.restore();
  };
  const opts: uPlot.Options = {
    width: widthOf(box),
    height: o.height ?? 180,
    scales: {
      x: { time: true, ...(o.xRange ? { range: o.xRange } : {}) },
      y: o.yRange
        ? { range: (_u, min, max) => [Math.min(o.yRange![0], min ?? 0), Math.max(o.yRange![1], max ?? 0)] }
        : o.fromZero
          ? { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] }
          : {},
    },
    axes: [{}, { values: (_u, vals) => vals.map((v) => (v === null ? '' : fmt(v))), size: 70 }],
    series: [
      {},
      ...o.series.map((s, i) => ({
        label: s.label,
        stroke: s.color ?? PALETTE[i % PALETTE.length],
        dash: DASHES[Math.floor(i / PALETTE.length) % DASHES.length],
        width: 1.5,
        spanGaps: false,
        value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmt(v)),
      })),
    ],
    // Bands are translucent, so drawing them after the series keeps one pass.
    hooks: { draw: [drawExtras] },
    legend: { live: true },
  };
  const data: uPlot.AlignedData = [o.x, ...o.series.map((s) => s.values)];
  return new uPlot(opts, data, box);
}

/** Latency heatmap: one column per step, one row per exponential bucket (log y), darker = more requests. */
export function heatmapChart(box: HTMLElement, hm: { times: number[]; bounds: number[]; counts: number[][] }, title: string, format: (v: number) => string): uPlot {
  const total = hm.counts.reduce((n, row) => n + row.reduce((a, b) => a + b, 0), 0);
  const cells = hm.counts.reduce((n, row) => n + row.filter((c) => c > 0).length, 0);
  box.dataset.points = String(cells);
  box.setAttribute('role', 'img');
  box.setAttribute('aria-label', `${title}: ${total} requests in ${cells} cells over ${hm.bounds.length} latency buckets`);
  const max = Math.max(1, ...hm.counts.flat());
  const top = hm.bounds.length ? hm.bounds[hm.bounds.length - 1] * (hm.bounds.length > 1 ? hm.bounds[1] / hm.bounds[0] : 2) : 1;
  const step = hm.times.length > 1 ? hm.times[1] - hm.times[0] : 60;
  const opts: uPlot.Options = {
    width: widthOf(box),
    height: 200,
    scales: { x: { time: true }, y: { distr: 3, range: [hm.bounds[0] ?? 0.001, top] } },
    axes: [{}, { values: (_u, vals) => vals.map((v) => (v === null ? '' : format(v))), size: 70 }],
    series: [{}, { label: 'requests', stroke: 'transparent', points: { show: false } }],
    legend: { show: false },
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          ctx.save();
          hm.counts.forEach((row, r) => {
            const lo = hm.bounds[r];
            const hi = hm.bounds[r + 1] ?? top;
            const y0 = u.valToPos(hi, 'y', true);
            const y1 = u.valToPos(lo, 'y', true);
            row.forEach((c, i) => {
              if (c <= 0) return;
              const x0 = u.valToPos(hm.times[i], 'x', true);
              const x1 = u.valToPos(hm.times[i] + step, 'x', true);
              // Log intensity: one slow request in a column must still show.
              const level = Math.log1p(c) / Math.log1p(max);
              ctx.fillStyle = `rgba(194,65,12,${(0.15 + 0.85 * level).toFixed(3)})`;
              ctx.fillRect(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0));
            });
          });
          ctx.restore();
        },
      ],
    },
  };
  return new uPlot(opts, [hm.times, hm.times.map(() => null)], box);
}

/** A small inline SVG line for tables (budget over the window): no canvas per row. */
export function sparkline(values: (number | null)[], label: string): SVGSVGElement {
  const w = 100;
  const ht = 24;
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  s.setAttribute('viewBox', `0 0 ${w} ${ht}`);
  s.setAttribute('width', String(w));
  s.setAttribute('height', String(ht));
  s.setAttribute('role', 'img');
  s.setAttribute('aria-label', label);
  s.classList.add('spark');
  if (finite.length < 2) return s;
  const lo = Math.min(0, ...finite);
  const hi = Math.max(1, ...finite);
  const pts = values
    .map((v, i) => (v === null || !Number.isFinite(v) ? null : `${((i / (values.length - 1)) * w).toFixed(1)},${(ht - 2 - ((v - lo) / (hi - lo)) * (ht - 4)).toFixed(1)}`))
    .filter((p): p is string => p !== null);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', pts.join(' '));
  line.setAttribute('fill', 'none');
  line.setAttribute('stroke', finite[finite.length - 1] < 0.25 ? '#dc2626' : '#2563eb');
  line.setAttribute('stroke-width', '1.5');
  s.append(line);
  return s;
}
