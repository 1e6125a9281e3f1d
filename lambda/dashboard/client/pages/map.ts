// The service map from GET /v1/graph: services in columns by call depth, external peers last;
// a degraded edge (errors over 1% of calls) is drawn red, thick and dashed and says so. A node
// opens its service's worst SLO. The same graph is listed as a table beneath.

import { api } from '../api.ts';
import type { PageContext } from '../context.ts';
import { h, svg } from '../dom.ts';
import { pct, rate, seconds } from '../format.ts';
import { href } from '../route.ts';
import { worstFirst } from '../status.ts';
import type { Graph, Slo } from '../types.ts';

const DEGRADED_ERROR_RATIO = 0.01;
const NODE_W = 220;
const NODE_H = 54;
const COL_GAP = 90;
const ROW_GAP = 24;

export function degraded(e: { requests: number; errors: number }): boolean {
  return e.requests > 0 && e.errors / e.requests > DEGRADED_ERROR_RATIO;
}

/** Column of each node: the longest call path reaching it (cycles cut), externals after all services. */
function columns(g: Graph): Map<string, number> {
  const col = new Map<string, number>(g.nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < g.nodes.length; pass++) {
    let changed = false;
    for (const e of g.edges) {
      const next = (col.get(e.from) ?? 0) + 1;
      if (e.from !== e.to && next > (col.get(e.to) ?? 0) && next < g.nodes.length) {
        col.set(e.to, next);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const last = Math.max(0, ...g.nodes.filter((n) => n.kind === 'service').map((n) => col.get(n.id) ?? 0));
  for (const n of g.nodes) if (n.kind === 'external') col.set(n.id, Math.max(col.get(n.id) ?? 0, last + 1));
  return col;
}

export async function renderMap(ctx: PageContext): Promise<HTMLElement> {
  const [graph, { slos }] = await Promise.all([api<Graph>('/v1/graph', { from: Math.floor(ctx.fromS), to: Math.ceil(ctx.toS) }), api<{ slos: Slo[] }>('/v1/slos')]);
  const worst = new Map<string, Slo>();
  for (const s of [...slos].sort(worstFirst)) if (!worst.has(s.service)) worst.set(s.service, s);
  const col = columns(graph);
  const rows = new Map<number, number>();
  const pos = new Map<string, { x: number; y: number }>();
  for (const n of graph.nodes) {
    const c = col.get(n.id) ?? 0;
    const r = rows.get(c) ?? 0;
    rows.set(c, r + 1);
    pos.set(n.id, { x: 20 + c * (NODE_W + COL_GAP), y: 20 + r * (NODE_H + ROW_GAP) });
  }
  const width = 40 + (Math.max(0, ...col.values()) + 1) * (NODE_W + COL_GAP);
  const height = 40 + Math.max(1, ...rows.values()) * (NODE_H + ROW_GAP);
  const canvas = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'group', 'aria-label': `service map: ${graph.nodes.length} nodes, ${graph.edges.length} edges`, class: 'map' });
  canvas.append(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' }, svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#64748b' }))));
  for (const e of graph.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const bad = degraded(e);
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    const line = svg('path', { d: `M ${x1} ${y1} C ${x1 + COL_GAP / 2} ${y1}, ${x2 - COL_GAP / 2} ${y2}, ${x2} ${y2}`, class: `edge${bad ? ' degraded' : ''}`, 'marker-end': 'url(#arrow)', fill: 'none' });
    line.append(svg('title', {}, `${e.from} → ${e.to} (${e.protocol}): ${e.requests} calls, ${pct(e.requests ? e.errors / e.requests : null)} errors, p99 ${seconds(e.p99)}${bad ? ' — degraded' : ''}`));
    canvas.append(line, svg('text', { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, class: `edge-label${bad ? ' degraded' : ''}`, 'text-anchor': 'middle' }, `${e.protocol}${bad ? ' ⚠ degraded' : ''}`));
  }
  for (const n of graph.nodes) {
    const p = pos.get(n.id)!;
    const target = n.kind === 'service' ? worst.get(n.service) : undefined;
    const errs = n.requests ? n.errors / n.requests : null;
    const g = svg('g', { class: `node ${n.kind}${errs !== null && errs > DEGRADED_ERROR_RATIO ? ' degraded' : ''}`, transform: `translate(${p.x},${p.y})`, 'data-node': n.id });
    g.append(
      svg('rect', { width: NODE_W, height: NODE_H, rx: 8 }),
      svg('text', { x: 10, y: 20, class: 'node-name' }, `${n.kind === 'external' ? '⇢ ' : ''}${n.service}`),
      svg('text', { x: 10, y: 40, class: 'node-stats' }, `${n.requests} req · ${pct(errs)} err · p99 ${seconds(n.p99)}`),
    );
    if (target) {
      const link = svg('a', { href: href('slo', target.id, { range: ctx.range }), 'aria-label': `${n.service}: open its SLO ${target.id}` });
      link.append(g);
      canvas.append(link);
    } else {
      canvas.append(g);
    }
  }
  const table = h(
    'table',
    { class: 'edges', 'aria-label': 'calls between services' },
    h('thead', {}, h('tr', {}, ...['from', 'to', 'protocol', 'calls', 'calls/s', 'errors', 'p99', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, graph.edges.map((e) => h('tr', { class: degraded(e) ? 'degraded' : '' }, h('td', {}, e.from), h('td', {}, e.to), h('td', {}, e.protocol), h('td', { class: 'num' }, e.requests), h('td', { class: 'num' }, rate(e.requests / (ctx.toS - ctx.fromS))), h('td', { class: 'num' }, pct(e.requests ? e.errors / e.requests : null)), h('td', { class: 'num' }, seconds(e.p99)), h('td', {}, degraded(e) ? '⚠ degraded' : '')))),
  );
  return h(
    'section',
    { 'aria-labelledby': 'page-title' },
    h('h1', { id: 'page-title' }, 'Service map'),
    graph.nodes.length ? h('div', { class: 'map-wrap' }, canvas) : h('p', { class: 'empty' }, 'No calls seen in this range.'),
    h('h2', {}, 'Calls'),
    graph.edges.length ? table : h('p', { class: 'empty' }, 'No calls between services in this range (client calls appear while a service has an SLO alert pending or firing, or when probes are on).'),
  );
}
