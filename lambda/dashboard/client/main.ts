// The dashboard's shell: sign-in, navigation, time-range picker, live refresh and keyboard
// shortcuts. Pages are functions that fetch and return an element; a refresh renders the page
// again off screen and swaps it in, keeping focus and scroll where they were.

import { api, ApiCallError, forgetKey, rememberKey, storedKey } from './api.ts';
import type { PageContext } from './context.ts';
import { h } from './dom.ts';
import { renderHost } from './pages/host.ts';
import { renderIncident } from './pages/incident.ts';
import { renderList } from './pages/list.ts';
import { renderMap } from './pages/map.ts';
import { renderSlo } from './pages/slo.ts';
import { href, parseRoute, RANGES, rangeOf, rangeSeconds, type Page } from './route.ts';

const REFRESH_S = 10;
const PAGES: Record<Page, (ctx: PageContext) => Promise<HTMLElement>> = { slos: renderList, slo: renderSlo, incident: renderIncident, map: renderMap, host: renderHost };
const NAV: [Page, string][] = [['slos', 'SLOs'], ['map', 'Service map'], ['host', 'Host']];

const cache: PageContext['cache'] = new Map();
const root = document.getElementById('app')!;
let generation = 0;
let busy = false;
let timer: number | undefined;

function signIn(message?: string): void {
  clearInterval(timer);
  const input = h('input', { id: 'api-key', name: 'api-key', type: 'password', autocomplete: 'current-password', required: true, 'aria-describedby': 'sign-in-help' });
  const error = h('p', { id: 'sign-in-error', class: 'error', role: 'alert' }, message ?? '');
  const form = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'burnwatch'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    h('p', { id: 'sign-in-help', class: 'help' }, 'The key burnwatch up printed (kept in DATA_DIR/api-key), or $BURNWATCH_API_KEY. It stays in this tab only (session storage).'),
    h('button', { type: 'submit' }, 'Sign in'),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    error.textContent = 'Checking…';
    try {
      await api('/v1/services', {}, key);
      rememberKey(key);
      void show();
    } catch (err) {
      error.textContent =
        err instanceof ApiCallError && err.status === 401
          ? `Sign-in failed: the gateway did not accept this API key (${err.message}).`
          : `Sign-in failed: ${(err as Error).message}`;
      input.focus();
    }
  });
  root.replaceChildren(form);
  input.focus();
}

function shell(page: Page, range: string, body: HTMLElement, status: HTMLElement): HTMLElement {
  const route = parseRoute(location.hash);
  const picker = h(
    'select',
    { id: 'range', 'aria-label': 'time range', onchange: (e: Event) => {
      route.params.set('range', (e.target as HTMLSelectElement).value);
      location.hash = href(route.page, route.arg, Object.fromEntries(route.params));
    } },
    RANGES.map((r) => h('option', { value: r, ...(r === range ? { selected: true } : {}) }, `last ${r}`)),
  );
  return h(
    'div',
    { class: 'shell' },
    h('a', { class: 'skip', href: '#main', onclick: (e: Event) => (e.preventDefault(), document.getElementById('main')?.focus()) }, 'Skip to content'),
    h(
      'header',
      {},
      h('span', { class: 'brand' }, 'burnwatch'),
      h('nav', { 'aria-label': 'pages' }, NAV.map(([p, label]) => h('a', { href: href(p, undefined, { range }), ...(p === page || (p === 'slos' && (page === 'slo' || page === 'incident')) ? { 'aria-current': 'page' } : {}) }, label))),
      h('label', { for: 'range', class: 'visually-hidden' }, 'time range'),
      picker,
      status,
      h('button', { type: 'button', id: 'sign-out', onclick: () => (forgetKey(), signIn()) }, 'Sign out'),
    ),
    h('main', { id: 'main', tabindex: -1 }, body),
  );
}

async function show(): Promise<void> {
  if (!storedKey()) return signIn();
  const route = parseRoute(location.hash);
  const range = rangeOf(route);
  const toS = Date.now() / 1000;
  const ctx: PageContext = { route, range, fromS: toS - rangeSeconds(range), toS, cache };
  const mine = ++generation;
  busy = true;
  const status = h('span', { class: 'status', role: 'status', 'aria-live': 'polite' }, 'loading…');
  let body: HTMLElement;
  try {
    body = await PAGES[route.page](ctx);
  } catch (err) {
    if (err instanceof ApiCallError && err.status === 401) {
      forgetKey();
      return signIn('The API key is no longer accepted; sign in again.');
    }
    body = h('section', {}, h('h1', { id: 'page-title' }, 'Could not load this page'), h('p', { class: 'error', role: 'alert' }, (err as Error).message));
  } finally {
    busy = false;
  }
  if (mine !== generation) return; // navigated away meanwhile
  status.textContent = `updated ${new Date().toISOString().slice(11, 19)}Z · live every ${refreshSeconds(route)} s`;
  const focused = document.activeElement?.id;
  const scroll = window.scrollY;
  const same = root.dataset.view === location.hash;
  root.replaceChildren(shell(route.page, range, body, status));
  root.dataset.view = location.hash;
  (body as HTMLElement & { afterMount?: () => void }).afterMount?.();
  if (same) {
    window.scrollTo(0, scroll);
    if (focused) document.getElementById(focused)?.focus();
  } else {
    document.title = `${document.getElementById('page-title')?.textContent ?? 'burnwatch'} — burnwatch`;
  }
  clearInterval(timer);
  timer = window.setInterval(() => {
    if (!busy && document.visibilityState === 'visible') void show();
  }, refreshSeconds(route) * 1000);
}

function refreshSeconds(route: ReturnType<typeof parseRoute>): number {
  const n = Number(route.params.get('refresh'));
  return Number.isFinite(n) && n >= 1 ? n : REFRESH_S;
}

// "/" focuses the search; arrow keys move between the rows of a table of links.
document.addEventListener('keydown', (e) => {
  const target = e.target as HTMLElement;
  if (e.key === '/' && target.tagName !== 'INPUT') {
    const search = document.getElementById('search');
    if (search) {
      e.preventDefault();
      search.focus();
    }
    return;
  }
  if ((e.key === 'ArrowDown' || e.key === 'ArrowUp') && target.classList.contains('row-link')) {
    const links = [...document.querySelectorAll<HTMLAnchorElement>('a.row-link')];
    const next = links[links.indexOf(target as HTMLAnchorElement) + (e.key === 'ArrowDown' ? 1 : -1)];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  }
});

window.addEventListener('hashchange', () => void show());
void show();
