// Host view: per process, what the kernel saw (run-queue latency, CPU, faults, retransmits per
// peer, block I/O, starts and exits) over the range.

import { api } from '../api.ts';
import type { PageContext } from '../context.ts';
import { h } from '../dom.ts';
import { seconds } from '../format.ts';
import type { ProcessRow } from '../types.ts';

export async function renderHost(ctx: PageContext): Promise<HTMLElement> {
  const service = ctx.route.params.get('service') ?? undefined;
  const { processes } = await api<{ processes: ProcessRow[] }>('/v1/processes', { from: Math.floor(ctx.fromS), to: Math.ceil(ctx.toS), service });
  const head = ['service', 'host', 'pid', 'CPU (cores)', 'run-queue p99', 'faults major / minor', 'retransmits by peer', 'block I/O (p99, errors)', 'starts / exits', 'build'];
  return h(
    'section',
    { 'aria-labelledby': 'page-title' },
    h('h1', { id: 'page-title' }, 'Host: kernel signals per process'),
    processes.length
      ? h(
          'table',
          { class: 'host', 'aria-label': 'kernel signals per process' },
          h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))),
          h(
            'tbody',
            {},
            processes.map((p) =>
              h(
                'tr',
                { 'data-pid': p.pid ?? '' },
                h('th', { scope: 'row' }, p.service),
                h('td', {}, p.host ?? '—'),
                h('td', { class: 'num' }, p.pid ?? '—'),
                h('td', { class: 'num' }, p.cpu_cores.toFixed(3)),
                h('td', { class: 'num' }, seconds(p.runqueue_p99)),
                h('td', { class: 'num' }, `${p.faults.major} / ${p.faults.minor}`),
                h('td', {}, p.retransmits.length ? p.retransmits.slice(0, 3).map((r) => `${r.peer}: ${r.count}`).join(', ') : '—'),
                h('td', { class: 'num' }, p.block_io.count ? `${seconds(p.block_io.p99)}, ${p.block_io.errors}` : '—'),
                h('td', { class: 'num' }, `${p.starts} / ${p.exits}`),
                h('td', { class: 'mono' }, p.build_ids.map((b) => b.slice(0, 12)).join(' ') || '—'),
              ),
            ),
          ),
        )
      : h('p', { class: 'empty' }, 'No kernel signals in this range.'),
  );
}
