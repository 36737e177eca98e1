// Server-paged lists: RabbitMQ's ?page, ?page_size, ?name (?use_regex), ?sort, ?sort_reverse, so a
// page of a list costs the browser the same with 10,000 objects as with ten.
import { ApiError, get } from './api';
import type { RemotePage, RemoteQuery, Table } from './dom';

export const PAGE_SIZE = 100;
export type Paged<T> = RemotePage & { items: T[] };

/** RabbitMQ's list query for a server-paged table. */
export function pageQuery(q: RemoteQuery): string {
  const p = new URLSearchParams({ page: String(q.page), page_size: String(PAGE_SIZE) });
  if (q.name) p.set('name', q.name);
  if (q.regex) p.set('use_regex', 'true');
  if (q.sort) {
    p.set('sort', q.sort);
    p.set('sort_reverse', String(q.reverse));
  }
  return p.toString();
}

/** Fetches the page the table shows (back to the first if objects went away with it) and shows it. */
export async function fetchPage<T>(table: Table<T>, path: string): Promise<Paged<T>> {
  const once = (): Promise<Paged<T>> => get<Paged<T>>(`${path}?${pageQuery(table.query())}`);
  let page: Paged<T>;
  try {
    page = await once();
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 400 && /out of range/.test(e.message))) throw e;
    table.firstPage();
    page = await once();
  }
  table.update(page.items, page);
  return page;
}
