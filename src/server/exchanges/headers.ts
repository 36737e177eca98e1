// Headers exchange: bindings match on message headers per their x-match argument: 'all' (default)
// or 'any', and RabbitMQ's 'all-with-x' / 'any-with-x', which also compare x- prefixed keys.
// A binding argument of type void matches any value of that header.
import { Buffer } from 'node:buffer';
import { AmqpError, FIELD_TYPE_NAMES, ReplyCode, fromFieldValue, type FieldTable, type FieldValue } from '../../frames/index.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

function sameValue(a: FieldValue, b: FieldValue): boolean {
  const x = fromFieldValue(a);
  const y = fromFieldValue(b);
  if (Buffer.isBuffer(x) && Buffer.isBuffer(y)) return x.equals(y);
  if (typeof x === 'object' || typeof y === 'object') return JSON.stringify(x) === JSON.stringify(y);
  return x === y;
}

const X_MATCH = ['all', 'any', 'all-with-x', 'any-with-x'];

/** RabbitMQ refuses a headers binding whose x-match it cannot use (406, its wording). */
export function validateHeadersBinding(args: FieldTable): void {
  const m = args.get('x-match');
  if (m === undefined) return;
  const fail = (text: string): never => {
    throw new AmqpError(ReplyCode.PreconditionFailed, text, 'channel');
  };
  if (m.type !== 'S') fail(`Invalid x-match field type ${FIELD_TYPE_NAMES[m.type]} (value ${String(fromFieldValue(m))}); expected longstr`);
  const v = String(fromFieldValue(m));
  if (!X_MATCH.includes(v)) fail(`Invalid x-match field value <<"${v}">>; expected all, any, all-with-x, or any-with-x`);
}

export function headersMatch(args: FieldTable, headers: FieldTable | undefined): boolean {
  const mode = args.get('x-match');
  const how = mode ? String(fromFieldValue(mode)) : 'all';
  const any = how === 'any' || how === 'any-with-x';
  const withX = how.endsWith('-with-x');
  for (const [k, want] of args) {
    if (k.startsWith('x-') && !withX) continue;
    if (k === 'x-match') continue;
    const have = headers?.get(k);
    const ok = have !== undefined && (want.type === 'V' || sameValue(want, have));
    if (any && ok) return true;
    if (!any && !ok) return false;
  }
  return !any;
}

export class HeadersExchange extends Exchange {
  override readonly readsHeaders = true;
  protected addRoute(_b: Binding): void {}
  protected removeRoute(_b: Binding): void {}

  route(_routingKey: string, headers: FieldTable | undefined, out: Destination[]): void {
    for (const b of this.bindings.values()) if (headersMatch(b.arguments, headers)) out.push(b.destination);
  }
}
