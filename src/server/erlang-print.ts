// Values as Erlang's ~p prints them: in the refusal texts RabbitMQ's plugins format with it ("The
// binding key must be an integer: <<"abc">>", "Invalid argument <<"ten">>, …") and in the event
// exchange's headers (arguments, client properties, addresses).
import { Buffer } from 'node:buffer';
import { FIELD_TYPE_NAMES, fromFieldValue, type FieldTable, type FieldValue } from '../frames/index.js';

/** A binary: <<"text">> when every byte is printable ASCII, <<>> when empty, else its bytes. */
export function erlangBinary(value: string | Buffer): string {
  const b = typeof value === 'string' ? Buffer.from(value) : value;
  if (b.length === 0) return '<<>>';
  if (b.every((c) => c >= 0x20 && c < 0x7f)) return `<<"${b.toString('latin1').replace(/[\\"]/g, (c) => `\\${c}`)}">>`;
  return `<<${[...b].join(',')}>>`;
}

/**
 * A float as Erlang's ~p prints it (OTP's shortest round-trip digits): the shorter of the fixed
 * form and the exponent form, the fixed one on a tie, each with a digit after the point: 10.0,
 * 1.0e4, 100.0, 1.2e-4, 12345678.0.
 */
export function erlangFloat(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mant, expText] = Math.abs(x).toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const digits = mant.replace('.', '');
  const sci = `${digits[0]}.${digits.length > 1 ? digits.slice(1) : '0'}e${exp}`;
  let fixed: string;
  if (exp < 0) fixed = `0.${'0'.repeat(-exp - 1)}${digits}`;
  else if (digits.length > exp + 1) fixed = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  else fixed = `${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  return sign + (sci.length < fixed.length ? sci : fixed);
}

/** A field's value as the broker holds it: integers, floats (1.0, not 1), booleans, binaries. */
export function erlangValue(v: FieldValue): string {
  switch (v.type) {
    case 'S':
    case 'x':
      return erlangBinary(v.value);
    case 'f':
    case 'd':
      return erlangFloat(v.value);
    case 't':
      return String(v.value);
    case 'V':
      return 'undefined';
    case 'D':
      return `{${v.value.scale},${v.value.digits}}`;
    case 'F':
      return `[${erlangTerms(v.value).join(',')}]`;
    case 'A':
      return `[${v.value.map((e) => `{${FIELD_TYPE_NAMES[e.type]},${erlangValue(e)}}`).join(',')}]`;
    default:
      return String(fromFieldValue(v));
  }
}

/** A field table as RabbitMQ's events print one: each entry {Key, Type, Value}, e.g. {<<"x-max-length">>,signedint,5}. */
export function erlangTerms(t: FieldTable): string[] {
  return [...t].map(([k, v]) => `{${erlangBinary(k)},${FIELD_TYPE_NAMES[v.type]},${erlangValue(v)}}`);
}

/**
 * An IP address as an Erlang tuple: {127,0,0,1}, or eight 16-bit words for IPv6 (an IPv4 client
 * of a dual-stack listener is ::ffff:a.b.c.d, {0,0,0,0,0,65535,…}, as 3.10.8 shows it).
 */
export function erlangAddress(address: string | undefined): string {
  if (!address) return '';
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (v4) return `{${v4.slice(1).join(',')}}`;
  let a = address;
  const tail: number[] = [];
  const mapped = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (mapped) {
    const [, head, b1, b2, b3, b4] = mapped.map(String) as [string, string, string, string, string, string];
    a = `${head}0:0`;
    tail.push(Number(b1) * 256 + Number(b2), Number(b3) * 256 + Number(b4));
  }
  const [left = '', right = ''] = a.includes('::') ? a.split('::') : [a, ''];
  const words = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const l = words(left);
  const r = words(right);
  let all = a.includes('::') ? [...l, ...Array<number>(8 - l.length - r.length).fill(0), ...r] : l;
  if (tail.length > 0) all = [...all.slice(0, 6), ...tail];
  return `{${all.join(',')}}`;
}

