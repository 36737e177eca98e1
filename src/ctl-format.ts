// Rows of a `warren ctl list_*` command printed with rabbitmqctl's formatters: `table` (tab-separated,
// a header line unless --no-table-headers), `pretty_table` (boxed), `csv` (every cell quoted) and
// `json` (an array with one object per line, as rabbitmqctl prints it: "[", "{…}", ",{…}", "]").
import type { Formatter } from './ctl-args.js';

export type Cells = Record<string, unknown>;

/** An Erlang proplist: rabbitmqctl's table prints it [{k, v}, …] (a vhost's cluster_state), its json the object. */
export class Proplist {
  constructor(readonly entries: Record<string, unknown>) {}
  toJSON(): Record<string, unknown> {
    return this.entries;
  }
}

/** A value as one table cell: lists as [a, b] (rabbitmqctl's tags), other objects as JSON. */
export function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (v instanceof Proplist) return `[${Object.entries(v.entries).map(([k, x]) => `{${k}, ${cell(x)}}`).join(', ')}]`;
  if (Array.isArray(v)) return `[${v.map(cell).join(', ')}]`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function prettyTable(lines: string[][]): string[] {
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const rule = (l: string, m: string, r: string): string => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const row = (l: string[]): string => '│' + l.map((c, i) => ` ${c.padEnd(widths[i]!)} `).join('│') + '│';
  const body = lines.map(row);
  const out = [rule('┌', '┬', '┐')];
  body.forEach((b, i) => {
    if (i > 0) out.push(rule('├', '┼', '┤'));
    out.push(b);
  });
  out.push(rule('└', '┴', '┘'));
  return out;
}

export function formatRows(rows: Cells[], columns: string[], formatter: Formatter, headers: boolean): string[] {
  // rabbitmqctl 3.10.8 prints no header for an empty list (json: an empty array).
  if (rows.length === 0) return formatter === 'json' ? ['[', ']'] : [];
  switch (formatter) {
    case 'json':
      // Raw values (numbers stay numbers, tags stay a list), as rabbitmqctl --formatter json.
      return ['[', ...rows.map((r, i) => (i === 0 ? '' : ',') + JSON.stringify(Object.fromEntries(columns.map((c) => [c, r[c] ?? null])))), ']'];
    case 'csv': {
      const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;
      const lines = rows.map((r) => columns.map((c) => quote(cell(r[c]))).join(','));
      return headers ? [columns.map(quote).join(','), ...lines] : lines;
    }
    case 'pretty_table': {
      const lines = rows.map((r) => columns.map((c) => cell(r[c])));
      const all = headers ? [columns, ...lines] : lines;
      return all.length === 0 ? [] : prettyTable(all);
    }
    case 'table': {
      const lines = rows.map((r) => columns.map((c) => cell(r[c])).join('\t'));
      return headers ? [columns.join('\t'), ...lines] : lines;
    }
  }
}
