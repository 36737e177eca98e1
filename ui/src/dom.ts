// Small DOM helpers, formatting, and a sortable, filterable table.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined | null>;

/** Creates an element; attributes starting with "on" are listeners. Text is never parsed as HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

export const fmtInt = (n: number | undefined): string => (n === undefined ? '' : n.toLocaleString('en-US'));
export const fmtRate = (n: number | undefined): string => `${(n ?? 0).toFixed((n ?? 0) >= 100 ? 0 : 1)}/s`;

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export function fmtDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${hh}h`;
  if (hh > 0) return `${hh}h ${mm}m`;
  return `${mm}m ${s % 60}s`;
}

export const vhostPath = (vhost: string): string => encodeURIComponent(vhost);
export const queueHref = (vhost: string, name: string): string => `#/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}`;

/** A flash message under a form: ok or error. */
export function note(el: Element, text: string, kind: 'ok' | 'error' = 'ok'): void {
  el.className = `note ${kind}`;
  el.textContent = text;
}

// ---- tables

export interface Column<T> {
  label: string;
  /** The value sorted on (and shown, unless render is given). */
  value: (row: T) => string | number | boolean | null | undefined;
  render?: (row: T) => Child;
  num?: boolean;
  title?: string;
  /** The API's field to sort on, for a table the server pages (opts.remote). */
  key?: string;
}

/** What a server-paged table asks the API for (RabbitMQ's ?page, ?name, ?sort…). */
export interface RemoteQuery {
  page: number;
  name: string;
  regex: boolean;
  sort?: string;
  reverse: boolean;
}
export interface RemotePage {
  page_size: number;
  filtered_count: number;
  total_count: number;
  page: number;
  page_count: number;
}

const sortState = new Map<string, { col: number; desc: boolean }>();
const filterState = new Map<string, string>();
const MAX_ROWS = 500;

/** A table sorted by clicking a header (again to reverse); the sort and filter survive re-renders. */
export class Table<T> {
  readonly el: HTMLElement;
  private readonly tbody = h('tbody');
  private readonly headRow = h('tr');
  private readonly footer = h('div', { class: 'table-foot' });
  private readonly filterInput: HTMLInputElement | null;
  private rows: T[] = [];
  private debounce: number | undefined;
  private page = 1;
  private paged: RemotePage | null = null;

  constructor(
    private readonly id: string,
    private readonly columns: Column<T>[],
    private readonly opts: { filter?: (row: T) => string; empty?: string; remote?: () => void } = {},
  ) {
    this.filterInput = opts.filter
      ? h('input', {
          type: 'search',
          class: 'filter',
          placeholder: 'Filter (substring or /regex/)',
          value: filterState.get(id) ?? '',
          'aria-label': 'Filter',
          oninput: () => {
            filterState.set(id, this.filterInput!.value);
            if (!opts.remote) return this.render();
            // The server filters: wait for a pause in typing, and start again at the first page.
            window.clearTimeout(this.debounce);
            this.debounce = window.setTimeout(() => {
              this.page = 1;
              opts.remote!();
            }, 200);
          },
        })
      : null;
    this.el = h(
      'div',
      { class: 'table-wrap', 'data-table': id },
      this.filterInput,
      h('table', { class: 'grid' }, h('thead', null, this.headRow), this.tbody),
      this.footer,
    );
    this.renderHead();
  }

  update(rows: T[], paged: RemotePage | null = null): void {
    this.rows = rows;
    this.paged = paged;
    if (paged) this.page = paged.page;
    this.render();
  }

  /** Back to the first page (a server-paged table whose page no longer exists). */
  firstPage(): void {
    this.page = 1;
  }

  /** The page, filter and sort a server-paged table shows. */
  query(): RemoteQuery {
    const f = this.filterInput?.value.trim() ?? '';
    const re = /^\/(.+)\/$/.exec(f);
    const s = sortState.get(this.id);
    const col = s ? this.columns[s.col] : undefined;
    return { page: this.page, name: re ? re[1]! : f, regex: !!re, sort: col?.key, reverse: !!s?.desc };
  }

  private renderHead(): void {
    const s = sortState.get(this.id);
    replace(
      this.headRow,
      ...this.columns.map((c, i) =>
        h(
          'th',
          {
            title: c.title ?? `Sort by ${c.label}`,
            class: `${c.num ? 'num ' : ''}${!this.opts.remote || c.key ? 'sortable' : ''}`,
            'aria-sort': s?.col === i ? (s.desc ? 'descending' : 'ascending') : undefined,
            onclick: () => {
              if (this.opts.remote && !c.key) return;
              const cur = sortState.get(this.id);
              sortState.set(this.id, { col: i, desc: cur?.col === i ? !cur.desc : !!c.num });
              this.renderHead();
              if (this.opts.remote) this.opts.remote();
              else this.render();
            },
          },
          c.label,
          h('span', { class: 'sort-mark' }, s?.col === i ? (s.desc ? ' ▼' : ' ▲') : ''),
        ),
      ),
    );
  }

  private matcher(): ((text: string) => boolean) | null {
    const f = this.filterInput?.value.trim();
    if (!f) return null;
    const re = /^\/(.+)\/$/.exec(f);
    if (re) {
      try {
        const r = new RegExp(re[1]!, 'i');
        return (t) => r.test(t);
      } catch {
        /* fall through to substring */
      }
    }
    const low = f.toLowerCase();
    return (t) => t.toLowerCase().includes(low);
  }

  private render(): void {
    if (this.paged) return this.renderPaged(this.paged);
    let rows = this.rows;
    const m = this.matcher();
    if (m && this.opts.filter) rows = rows.filter((r) => m(this.opts.filter!(r)));
    const s = sortState.get(this.id);
    if (s) {
      const col = this.columns[s.col]!;
      const dir = s.desc ? -1 : 1;
      rows = [...rows].sort((a, b) => {
        const x = col.value(a) ?? '';
        const y = col.value(b) ?? '';
        const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
        return c * dir;
      });
    }
    this.renderRows(rows.slice(0, MAX_ROWS), m ? 'No rows match the filter.' : (this.opts.empty ?? 'Nothing here yet.'));
    const total = this.rows.length;
    replace(this.footer, this.footText(rows.length, total, m !== null));
  }

  private footText(shown: number, total: number, filtered: boolean): string {
    return shown > MAX_ROWS ? `Showing ${MAX_ROWS} of ${shown} — refine the filter.` : filtered ? `${shown} of ${total}` : `${total} item${total === 1 ? '' : 's'}`;
  }

  private renderPaged(p: RemotePage): void {
    this.renderRows(this.rows, this.filterInput?.value.trim() ? 'No rows match the filter.' : (this.opts.empty ?? 'Nothing here yet.'));
    const go = (page: number) => () => {
      this.page = page;
      this.opts.remote!();
    };
    const size = Math.max(1, this.rows.length);
    const first = (p.page - 1) * p.page_size + (this.rows.length ? 1 : 0);
    replace(
      this.footer,
      p.filtered_count === p.total_count ? `${p.total_count.toLocaleString('en-US')} items` : `${p.filtered_count.toLocaleString('en-US')} of ${p.total_count.toLocaleString('en-US')} match`,
      p.page_count > 1 ? ` · showing ${first.toLocaleString('en-US')}–${(first + size - 1).toLocaleString('en-US')} · page ${p.page} of ${p.page_count} ` : '',
      p.page_count > 1 && h('button', { type: 'button', class: 'small', 'data-page': 'prev', disabled: p.page <= 1, onclick: go(p.page - 1) }, '‹ Prev'),
      p.page_count > 1 && h('button', { type: 'button', class: 'small', 'data-page': 'next', disabled: p.page >= p.page_count, onclick: go(p.page + 1) }, 'Next ›'),
    );
  }

  private renderRows(shown: T[], empty: string): void {
    if (shown.length === 0) {
      replace(this.tbody, h('tr', null, h('td', { colspan: this.columns.length, class: 'empty' }, empty)));
      return;
    }
    replace(
      this.tbody,
      ...shown.map((r) =>
        h(
          'tr',
          null,
          ...this.columns.map((c) => {
            const v = c.render ? c.render(r) : c.value(r);
            return h('td', { class: c.num ? 'num' : undefined }, typeof v === 'boolean' ? (v ? '●' : '○') : v);
          }),
        ),
      ),
    );
  }
}
