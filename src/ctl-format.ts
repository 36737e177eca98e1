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
  toString(): string {
    return `[${Object.entries(this.entries).map(([k, x]) => `{${k}, ${cell(x)}}`).join(', ')}]`;
  }
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A field value as rabbitmqctl's table prints it: strings quoted, tables as [{"k",v},…]. */
function erlangField(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(erlangField).join(',')}]`;
  if (isTable(v)) return `[${Object.entries(v).map(([k, x]) => `{${JSON.stringify(k)},${erlangField(x)}}`).join(',')}]`;
  return v === null || v === undefined ? 'void' : String(v);
}

/**
 * A field value with its AMQP type, as rabbitmqctl's json prints a table's entries: [name, type,
 * value]. The API gives values without their wire types, so an integer is typed by its size
 * (signedint within 32 bits, long past them) where 3.10.8 says what the client sent (byte, short …).
 */
function typedField(v: unknown): [string, unknown] {
  if (typeof v === 'string') return ['longstr', v];
  if (typeof v === 'boolean') return ['bool', v];
  if (typeof v === 'number') return [!Number.isInteger(v) ? 'double' : v >= -(2 ** 31) && v < 2 ** 31 ? 'signedint' : 'long', v];
  if (Array.isArray(v)) return ['array', v.map(typedField)];
  if (isTable(v)) return ['table', typedTable(v)];
  return ['void', null];
}
const typedTable = (t: Record<string, unknown>): unknown[] => Object.entries(t).map(([k, v]) => [k, ...typedField(v)]);

/** An AMQP field table (arguments, client properties) as rabbitmqctl prints it, in table and in json. */
export class FieldTableCell {
  constructor(readonly table: Record<string, unknown>) {}
  toJSON(): unknown[] {
    return typedTable(this.table);
  }
  toString(): string {
    return erlangField(this.table);
  }
}

/** An Erlang tuple of numbers: {0,9,1} in a table, [0,9,1] in json (a connection's protocol). */
export class TupleCell {
  constructor(readonly items: number[]) {}
  toJSON(): number[] {
    return this.items;
  }
  toString(): string {
    return `{${this.items.join(',')}}`;
  }
}

/** An Erlang float: 1.0 in a table where JavaScript prints 1; the number itself in json. */
export class FloatCell {
  constructor(readonly value: number) {}
  toJSON(): number {
    return this.value;
  }
  toString(): string {
    return Number.isInteger(this.value) ? this.value.toFixed(1) : String(this.value);
  }
}

/** A value as one table cell: lists as [a, b] (rabbitmqctl's tags), other objects as JSON. */
export function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (v instanceof FieldTableCell || v instanceof TupleCell || v instanceof Proplist || v instanceof FloatCell) return v.toString();
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
