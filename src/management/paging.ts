// RabbitMQ's list query parameters, applied to every GET answer of the API: name filtering
// (substring, or a regex with use_regex=true; both caseless), sort/sort_reverse (dotted names for
// nested fields), columns (keeps only those fields, dotted for nested ones), and paging
// (page, page_size ≤ 500) answering {filtered_count, item_count, items, page, page_count,
// page_size, total_count}, with RabbitMQ 3.10.8's errors. As in 3.10.8, pagination=false does not
// turn paging off once page is given, and page_size without page is ignored.
import type { FastifyInstance } from 'fastify';
import { HttpError, badRequest } from './http-errors.js';

type Query = { [k: string]: string | undefined };
type Item = { [k: string]: unknown };

const MAX_PAGE_SIZE = 500;
const DEFAULT_PAGE_SIZE = 100;

const isItem = (x: unknown): x is Item => typeof x === 'object' && x !== null && !Array.isArray(x);

function pathValue(o: unknown, path: string[]): unknown {
  let cur: unknown = o;
  for (const p of path) {
    if (!isItem(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** columns=a,b.c: only those fields, nested ones under their parent (RabbitMQ: [] for an empty parent). */
export function pickColumns(item: unknown, columns: string[]): unknown {
  if (!isItem(item)) return item;
  const out: Item = {};
  for (const col of columns) {
    const path = col.split('.');
    const v = pathValue(item, path);
    if (v === undefined) {
      if (path.length > 1 && isItem(item[path[0] ?? '']) && !(path[0]! in out)) out[path[0]!] = [];
      continue;
    }
    let dst = out;
    for (const p of path.slice(0, -1)) {
      const next = dst[p];
      dst = isItem(next) ? next : (dst[p] = {});
    }
    dst[path[path.length - 1]!] = v;
  }
  return out;
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : 1;
}

function nameFilter(q: Query): ((item: unknown) => boolean) | null {
  const name = q.name;
  if (name === undefined || name === '') return null;
  if (q.use_regex === 'true') {
    let re: RegExp;
    try {
      re = new RegExp(name, 'i');
    } catch {
      throw badRequest('Pagination parameters are invalid');
    }
    return (item) => isItem(item) && re.test(String(item.name ?? ''));
  }
  const lower = name.toLowerCase();
  return (item) => isItem(item) && String(item.name ?? '').toLowerCase().includes(lower);
}

const positiveInt = (s: string | undefined): number | null => (s !== undefined && /^\d+$/.test(s) ? Number(s) : null);

/** disable_stats=true: no message_stats and no *_details rates, as RabbitMQ leaves them out. */
function withoutStats(item: unknown): unknown {
  if (!isItem(item)) return item;
  return Object.fromEntries(Object.entries(item).filter(([k]) => k !== 'message_stats' && !k.endsWith('_details')));
}

const BINDING_ORDER = ['vhost', 'source', 'destination', 'routing_key', 'properties_key'];
/**
 * The order RabbitMQ 3.10.8 lists objects in when no sort is asked for (its reply_list's default
 * sorts): by vhost and name, bindings by source, destination and key. Routes not named here keep
 * the order the broker holds them in.
 */
const DEFAULT_ORDER: { [route: string]: string[] } = {
  '/api/queues': ['vhost', 'name'],
  '/api/queues/:vhost': ['vhost', 'name'],
  '/api/exchanges': ['vhost', 'name'],
  '/api/exchanges/:vhost': ['vhost', 'name'],
  '/api/bindings': BINDING_ORDER,
  '/api/bindings/:vhost': BINDING_ORDER,
  '/api/queues/:vhost/:name/bindings': BINDING_ORDER,
  '/api/exchanges/:vhost/:name/bindings/source': BINDING_ORDER,
  '/api/exchanges/:vhost/:name/bindings/destination': BINDING_ORDER,
  '/api/users': ['name'],
  '/api/vhosts': ['name'],
  '/api/policies': ['vhost', 'name'],
  '/api/policies/:vhost': ['vhost', 'name'],
  '/api/operator-policies': ['vhost', 'name'],
  '/api/operator-policies/:vhost': ['vhost', 'name'],
  '/api/permissions': ['vhost', 'user'],
  '/api/topic-permissions': ['vhost', 'user', 'exchange'],
  '/api/parameters': ['vhost', 'name'],
  '/api/parameters/:component': ['vhost', 'name'],
  '/api/parameters/:component/:vhost': ['vhost', 'name'],
};

function sortBy(items: unknown[], keys: string[]): unknown[] {
  return [...items].sort((a, b) => {
    for (const k of keys) {
      const c = compare(isItem(a) ? a[k] : undefined, isItem(b) ? b[k] : undefined);
      if (c !== 0) return c;
    }
    return 0;
  });
}

/** Whether a request's columns=… names this field (one that is only made when asked for). */
export function asksForColumn(query: unknown, name: string): boolean {
  const columns = (query as Query | undefined)?.columns;
  return typeof columns === 'string' && columns.split(',').includes(name);
}

/** A list answer as the query asks for it; a single object only through columns. */
export function applyListQuery(input: unknown, q: Query, defaultOrder?: string[]): unknown {
  const payload = q.disable_stats === 'true' ? (Array.isArray(input) ? input.map(withoutStats) : withoutStats(input)) : input;
  const columns = q.columns ? q.columns.split(',').filter(Boolean) : null;
  if (!Array.isArray(payload)) return columns ? pickColumns(payload, columns) : payload;
  let items: unknown[] = payload;
  const total = items.length;
  const filter = nameFilter(q);
  if (filter) items = items.filter(filter);
  if (q.sort) {
    const path = q.sort.split('.');
    items = [...items].sort((a, b) => compare(pathValue(a, path), pathValue(b, path)));
  } else if (defaultOrder) items = sortBy(items, defaultOrder);
  if (q.sort_reverse === 'true') items = [...items].reverse();
  const pick = (xs: unknown[]): unknown[] => (columns ? xs.map((x) => pickColumns(x, columns)) : xs);
  if (q.page === undefined) return pick(items);
  const page = positiveInt(q.page);
  if (page === null) throw badRequest('Pagination parameters are invalid');
  const size = q.page_size === undefined ? DEFAULT_PAGE_SIZE : positiveInt(q.page_size);
  if (size === null) throw badRequest('Pagination parameters are invalid');
  if (page < 1 || size < 1 || size > MAX_PAGE_SIZE) {
    throw new HttpError(400, 'invalid_pagination_parameters', `Invalid pagination parameters: page number ${page}, page size ${q.page_size ?? 'undefined'}`);
  }
  const pageCount = Math.ceil(items.length / size);
  if (page > 1 && page > pageCount) {
    throw new HttpError(400, 'page_out_of_range', `Page out of range, page: ${page} page size: ${size}, len: ${items.length}`);
  }
  const slice = items.slice((page - 1) * size, page * size);
  return { filtered_count: items.length, item_count: slice.length, items: pick(slice), page, page_count: pageCount, page_size: size, total_count: total };
}

export function registerPaging(app: FastifyInstance): void {
  app.addHook('preSerialization', async (req, _reply, payload) => {
    if (req.method !== 'GET' || !req.url.startsWith('/api/')) return payload;
    return applyListQuery(payload, req.query as Query, DEFAULT_ORDER[req.routeOptions.url ?? '']);
  });
}
