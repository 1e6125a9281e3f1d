// Reads shared by the SLO and incident pages: stepped queries aligned on one time axis, and the
// markers (alert transitions, deploys) every time axis carries.

import { api } from './api.ts';
import type { Marker } from './charts.ts';
import type { QuerySeries, Transition } from './types.ts';

export interface Aligned {
  x: number[];
  series: { label: string; values: (number | null)[] }[];
}

/** The x axis of a stepped range: steps aligned to multiples of `step` since the epoch, as /v1/query aligns them. */
export function axis(fromS: number, toS: number, step: number): number[] {
  const out: number[] = [];
  for (let t = Math.floor(fromS / step) * step; t < toS; t += step) out.push(t);
  return out;
}

export function align(x: readonly number[], series: readonly QuerySeries[], label: (s: QuerySeries) => string): Aligned {
  const index = new Map(x.map((t, i) => [t, i]));
  return {
    x: [...x],
    series: series.map((s) => {
      const values: (number | null)[] = x.map(() => null);
      for (const [t, v] of s.points) {
        const i = index.get(t);
        if (i !== undefined) values[i] = v;
      }
      return { label: label(s), values };
    }),
  };
}

export async function stepped(service: string, metric: string, agg: string, fromS: number, toS: number, step: number, by?: string): Promise<QuerySeries[]> {
  const r = await api<{ series: QuerySeries[] }>('/v1/query', { service, metric, agg, from: Math.floor(fromS), to: Math.ceil(toS), step: `${step}s`, by });
  return r.series;
}

/** Alert transitions that matter on a time axis: firing and resolved. */
export function alertMarkers(events: readonly Transition[]): Marker[] {
  return events
    .filter((e) => e.to === 'firing' || e.to === 'resolved')
    .map((e) => ({ at: Date.parse(e.at) / 1000, tag: e.to === 'firing' ? '▲ firing' : '✓ resolved', color: e.to === 'firing' ? '#dc2626' : '#059669' }));
}

/**
 * Deploys: a build id of the service's serving processes first seen after another build was
 * already serving in the range (the build running when the range starts is no deploy, nor is
 * the first one of a service that just started).
 */
export async function deployMarkers(service: string, metric: string, fromS: number, toS: number, step: number): Promise<Marker[]> {
  const series = await stepped(service, metric, 'count', fromS, toS, step, 'process.executable.build_id').catch(() => []);
  const firsts = series
    .map((s) => ({ build: s.labels['process.executable.build_id'], at: s.points.find(([, v]) => v > 0)?.[0] }))
    .filter((b): b is { build: string; at: number } => b.build !== undefined && b.at !== undefined);
  const earliest = Math.min(...firsts.map((b) => b.at));
  return firsts.filter((b) => b.at > earliest).map((b) => ({ at: b.at, tag: `◆ deploy ${b.build.slice(0, 8)}`, color: '#7c3aed' }));
}
