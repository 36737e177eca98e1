// Warren management UI: hash routes (#/queues/%2F/name), a poll loop, and the page shell.
import { ApiError, canAdmin, credentials, get, logout, whoami, type Overview } from './api';
import { h, replace } from './dom';
import type { Page } from './page';
import { channelPage } from './pages/channel';
import { connectionPage } from './pages/connection';
import { definitionsPage } from './pages/definitions';
import { nodePage } from './pages/node';
import { exchangePage } from './pages/exchange';
import { exchangesPage } from './pages/exchanges';
import { loginPage } from './pages/login';
import { channelsPage, connectionsPage, vhostsPage } from './pages/lists';
import { usersPage } from './pages/users';
import { overviewPage, recordOverview } from './pages/overview';
import { policiesPage } from './pages/policies';
import { shovelsPage } from './pages/shovels';
import { federationPage } from './pages/federation';
import { queuePage, queuesPage } from './pages/queues';
import './style.css';

const NAV: [string, string][] = [
  ['overview', 'Overview'],
  ['connections', 'Connections'],
  ['channels', 'Channels'],
  ['exchanges', 'Exchanges'],
  ['queues', 'Queues'],
  ['vhosts', 'Virtual hosts'],
  ['policies', 'Policies'],
  ['shovels', 'Shovels'],
  ['federation', 'Federation'],
  ['users', 'Users'],
  ['definitions', 'Definitions'],
  ['nodes', 'Node'],
];
/** Only administrators may read these (the API answers anyone else 401). */
const ADMIN_ONLY = ['users', 'definitions', 'shovels', 'federation'];
/** 0: do not refresh (the page stays as it is until the interval is changed or the page reloaded). */
const INTERVALS = [0, 2000, 5000, 10000, 30000];
const INTERVAL_KEY = 'warren.interval';

const app = document.getElementById('app')!;
let page: Page | null = null;
let generation = 0;
let timer: number | undefined;

function interval(): number {
  const raw = localStorage.getItem(INTERVAL_KEY);
  const v = Number(raw);
  return raw !== null && INTERVALS.includes(v) ? v : 5000;
}

function parseHash(): string[] {
  const raw = location.hash.replace(/^#\/?/, '');
  return raw === '' ? [] : raw.split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
}

function pageFor(parts: string[]): Page {
  const [section = 'overview', ...rest] = parts;
  switch (section) {
    case 'queues':
      return rest.length >= 2 ? queuePage(rest[0]!, rest.slice(1).join('/')) : queuesPage();
    case 'exchanges':
      return rest.length >= 2 ? exchangePage(rest[0]!, rest.slice(1).join('/')) : exchangesPage();
    case 'connections':
      return rest.length >= 1 ? connectionPage(rest.join('/')) : connectionsPage();
    case 'channels':
      return rest.length >= 1 ? channelPage(rest.join('/')) : channelsPage();
    case 'definitions':
      return definitionsPage();
    case 'nodes':
      return nodePage(rest[0]);
    case 'users':
      return usersPage();
    case 'vhosts':
      return vhostsPage();
    case 'policies':
      return policiesPage();
    case 'shovels':
      return shovelsPage();
    case 'federation':
      return federationPage();
    default:
      return overviewPage();
  }
}

const headerInfo = h('span', { class: 'header-info' });
const errorBar = h('div', { class: 'error-bar', role: 'alert', hidden: true });
const main = h('main', { id: 'content' });
const navLinks = NAV.map(([id, label]) => h('a', { href: `#/${id}`, 'data-nav': id }, label));

function shell(): HTMLElement {
  const select = h(
    'select',
    {
      'aria-label': 'Refresh interval',
      title: 'Refresh interval',
      onchange: (e: Event) => {
        localStorage.setItem(INTERVAL_KEY, (e.target as HTMLSelectElement).value);
        schedule();
      },
    },
    ...INTERVALS.map((ms) => h('option', { value: ms, selected: ms === interval() }, ms === 0 ? 'do not refresh' : `every ${ms / 1000} s`)),
  );
  return h(
    'div',
    { class: 'shell' },
    h(
      'header',
      null,
      h('a', { class: 'brand', href: '#/overview' }, h('span', { class: 'logo' }, 'W'), 'Warren'),
      h('nav', null, ...navLinks),
      h(
        'div',
        { class: 'header-right' },
        headerInfo,
        select,
        h('span', { class: 'who' }, credentials()?.user ?? ''),
        h('button', { class: 'link', type: 'button', 'data-action': 'logout', onclick: () => { logout(); void route(); } }, 'Log out'),
      ),
    ),
    errorBar,
    main,
  );
}

function showError(e: unknown): void {
  if (e === null) {
    errorBar.hidden = true;
    return;
  }
  errorBar.hidden = false;
  errorBar.textContent = e instanceof Error ? e.message : String(e);
}

async function tick(gen: number): Promise<void> {
  try {
    const o = await get<Overview>('/api/overview');
    if (gen !== generation) return;
    recordOverview(o);
    headerInfo.textContent = `${o.product_name} ${o.product_version} · ${o.node} · up ${Math.floor(o.uptime / 60000)} min`;
    await page?.refresh(o);
    if (gen === generation) showError(null);
  } catch (e) {
    if (gen !== generation) return;
    if (e instanceof ApiError && e.status === 401) {
      logout();
      void route('Your session has expired; please log in again.');
      return;
    }
    showError(e);
  }
}

function schedule(): void {
  window.clearTimeout(timer);
  const gen = generation;
  app.querySelector('.shell')?.classList.toggle('paused', interval() === 0);
  if (interval() === 0) return;
  const loop = async (): Promise<void> => {
    await tick(gen);
    if (gen === generation && interval() > 0) timer = window.setTimeout(loop, interval());
  };
  timer = window.setTimeout(loop, interval());
}

async function route(message?: string): Promise<void> {
  generation++;
  const routed = generation;
  window.clearTimeout(timer);
  page?.dispose?.();
  page = null;
  if (!credentials()) {
    replace(app, loginPage(() => void route(), message));
    return;
  }
  // The user's tags decide which pages and actions are offered.
  try {
    await whoami();
  } catch (e) {
    if (routed !== generation) return;
    if (e instanceof ApiError && e.status === 401) {
      logout();
      void route('Your session has expired; please log in again.');
      return;
    }
    showError(e);
  }
  if (routed !== generation) return;
  if (!app.querySelector('.shell') || app.querySelector('.who')!.textContent !== credentials()!.user) {
    replace(app, shell());
  }
  (app.querySelector('.who') as HTMLElement).textContent = credentials()!.user;
  for (const a of navLinks) a.hidden = ADMIN_ONLY.includes(a.dataset.nav!) && !canAdmin();
  const parts = parseHash();
  page = pageFor(parts);
  const section = parts[0] ?? 'overview';
  for (const a of navLinks) a.classList.toggle('active', a.dataset.nav === section);
  document.title = `${page.title} · Warren`;
  replace(main, page.el);
  showError(null);
  const gen = generation;
  void tick(gen).then(() => {
    if (gen === generation) schedule();
  });
}

window.addEventListener('hashchange', () => void route());
// Another tab logged in or out: follow it.
window.addEventListener('storage', (e) => {
  if (e.key !== 'warren.auth') return;
  const shown = app.querySelector('.who')?.textContent ?? null;
  if (e.newValue === null ? shown !== null : shown !== credentials()?.user) void route();
});
void route();
