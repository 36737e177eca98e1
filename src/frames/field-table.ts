// Field tables and arrays with every value type RabbitMQ accepts (t b B s u I i l f d D S x A T F V).
// Values keep their wire type so that a decoded table encodes back byte for byte.
import { Buffer } from 'node:buffer';
import { AmqpError } from './errors.js';
import { ReplyCode } from './constants.js';
import type { Reader, Writer } from './primitives.js';

export type FieldValue =
  | { type: 't'; value: boolean }
  | { type: 'b' | 'B' | 's' | 'u' | 'I' | 'i' | 'f' | 'd'; value: number }
  | { type: 'l' | 'T'; value: bigint }
  | { type: 'D'; value: { scale: number; digits: number } }
  | { type: 'S' | 'x'; value: Buffer }
  | { type: 'A'; value: FieldValue[] }
  | { type: 'F'; value: FieldTable }
  | { type: 'V'; value: null };

/** A Map keeps wire order even for keys that look like integers, which a plain object would reorder. */
export type FieldTable = Map<string, FieldValue>;

/** RabbitMQ's names of the field types (rabbit_binary_parser), as its error texts print them. */
export const FIELD_TYPE_NAMES: Record<FieldValue['type'], string> = {
  S: 'longstr',
  x: 'binary',
  I: 'signedint',
  i: 'unsignedint',
  l: 'long',
  b: 'byte',
  B: 'unsignedbyte',
  s: 'short',
  u: 'unsignedshort',
  f: 'float',
  d: 'double',
  D: 'decimal',
  T: 'timestamp',
  t: 'bool',
  F: 'table',
  A: 'array',
  V: 'void',
};

/** Deep enough for any real client; bounded so hostile nesting cannot exhaust the stack. */
const MAX_DEPTH = 64;

const badTable = (why: string): AmqpError =>
  new AmqpError(ReplyCode.SyntaxError, `malformed field table: ${why}`, 'connection');

export function readTable(r: Reader, depth = 0): FieldTable {
  if (depth > MAX_DEPTH) throw badTable('nested too deeply');
  const len = r.u32();
  r.need(len, 'field table');
  const end = r.pos + len;
  const outerEnd = r.end;
  r.end = end;
  const table: FieldTable = new Map();
  try {
    while (r.pos < end) {
      const key = r.shortstr();
      table.set(key, readValue(r, depth));
    }
  } finally {
    r.end = outerEnd;
  }
  return table;
}

function readArray(r: Reader, depth: number): FieldValue[] {
  if (depth > MAX_DEPTH) throw badTable('nested too deeply');
  const len = r.u32();
  r.need(len, 'field array');
  const end = r.pos + len;
  const outerEnd = r.end;
  r.end = end;
  const values: FieldValue[] = [];
  try {
    while (r.pos < end) values.push(readValue(r, depth));
  } finally {
    r.end = outerEnd;
  }
  return values;
}

function readValue(r: Reader, depth: number): FieldValue {
  const t = r.u8();
  switch (t) {
    case 0x74 /* t */:
      return { type: 't', value: r.u8() !== 0 };
    case 0x62 /* b */:
      return { type: 'b', value: r.i8() };
    case 0x42 /* B */:
      return { type: 'B', value: r.u8() };
    case 0x73 /* s */:
      return { type: 's', value: r.i16() };
    case 0x75 /* u */:
      return { type: 'u', value: r.u16() };
    case 0x49 /* I */:
      return { type: 'I', value: r.i32() };
    case 0x69 /* i */:
      return { type: 'i', value: r.u32() };
    case 0x6c /* l */:
      return { type: 'l', value: r.i64big() };
    case 0x66 /* f */:
      return { type: 'f', value: r.f32() };
    case 0x64 /* d */:
      return { type: 'd', value: r.f64() };
    case 0x44 /* D */: {
      const scale = r.u8();
      return { type: 'D', value: { scale, digits: r.u32() } };
    }
    case 0x53 /* S */:
      return { type: 'S', value: Buffer.from(r.longstr()) };
    case 0x78 /* x */:
      return { type: 'x', value: Buffer.from(r.longstr()) };
    case 0x41 /* A */:
      return { type: 'A', value: readArray(r, depth + 1) };
    case 0x54 /* T */:
      return { type: 'T', value: r.u64big() };
    case 0x46 /* F */:
      return { type: 'F', value: readTable(r, depth + 1) };
    case 0x56 /* V */:
      return { type: 'V', value: null };
    default:
      throw badTable(`unknown field type 0x${t.toString(16)}`);
  }
}

export function writeTable(w: Writer, table: FieldTable | undefined): void {
  const mark = w.reserve(4);
  if (table) {
    for (const [key, value] of table) {
      w.shortstr(key);
      writeValue(w, value);
    }
  }
  w.patchU32(mark, w.since(mark) - 4);
}

function writeArray(w: Writer, values: FieldValue[]): void {
  const mark = w.reserve(4);
  for (const v of values) writeValue(w, v);
  w.patchU32(mark, w.since(mark) - 4);
}

function writeValue(w: Writer, v: FieldValue): void {
  w.u8(v.type.charCodeAt(0));
  switch (v.type) {
    case 't':
      return w.u8(v.value ? 1 : 0);
    case 'b':
      return w.i8(v.value);
    case 'B':
      return w.u8(v.value);
    case 's':
      return w.i16(v.value);
    case 'u':
      return w.u16(v.value);
    case 'I':
      return w.i32(v.value);
    case 'i':
      return w.u32(v.value);
    case 'l':
      return w.i64big(v.value);
    case 'f':
      return w.f32(v.value);
    case 'd':
      return w.f64(v.value);
    case 'D':
      w.u8(v.value.scale);
      return w.u32(v.value.digits);
    case 'S':
    case 'x':
      return w.longstr(v.value);
    case 'A':
      return writeArray(w, v.value);
    case 'T':
      return w.u64big(v.value);
    case 'F':
      return writeTable(w, v.value);
    case 'V':
      return;
  }
}

export type PlainValue = boolean | number | bigint | string | Buffer | null | PlainValue[] | { [k: string]: PlainValue };

/**
 * Builds a field value from a plain JS value (JSON of the management API, definitions, policies),
 * with the types RabbitMQ's management gives JSON (rabbit_mgmt_format:to_amqp_table): every
 * integer a long, so that a reason naming the type says 'long', as 3.10.8's does.
 */
export function toFieldValue(v: PlainValue): FieldValue {
  if (v === null) return { type: 'V', value: null };
  if (typeof v === 'boolean') return { type: 't', value: v };
  if (typeof v === 'bigint') return { type: 'l', value: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { type: 'l', value: BigInt(v) } : { type: 'd', value: v };
  if (typeof v === 'string') return { type: 'S', value: Buffer.from(v) };
  if (Buffer.isBuffer(v)) return { type: 'x', value: v };
  if (Array.isArray(v)) return { type: 'A', value: v.map(toFieldValue) };
  return { type: 'F', value: toFieldTable(v) };
}

export function toFieldTable(obj: { [k: string]: PlainValue }): FieldTable {
  const t: FieldTable = new Map();
  for (const [k, v] of Object.entries(obj)) t.set(k, toFieldValue(v));
  return t;
}

/** The plain JS value of a field, for decisions and logs: strings for S, numbers for integers. */
export function fromFieldValue(v: FieldValue): PlainValue {
  switch (v.type) {
    case 'S':
      return v.value.toString('utf8');
    case 'l':
    case 'T':
      return Number(v.value);
    case 'D':
      return v.value.digits / 10 ** v.value.scale;
    case 'A':
      return v.value.map(fromFieldValue);
    case 'F':
      return fromFieldTable(v.value);
    default:
      return v.value;
  }
}

export function fromFieldTable(t: FieldTable): { [k: string]: PlainValue } {
  const out: { [k: string]: PlainValue } = {};
  for (const [k, v] of t) out[k] = fromFieldValue(v);
  return out;
}
