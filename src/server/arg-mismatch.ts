// RabbitMQ's rule for a redeclare whose argument differs (rabbit_misc:assert_args_equivalence), and
// its words: both values quoted when both are there, else the one that is there with its AMQP type.
import { FIELD_TYPE_NAMES, type FieldValue } from '../frames/index.js';
import { erlangValue } from './erlang-print.js';

/** RabbitMQ's type classes: integers of any width are one, floats and doubles another. */
const typeClass = (t: FieldValue['type']): string =>
  t === 'b' || t === 'B' || t === 's' || t === 'u' || t === 'I' || t === 'i' || t === 'l' ? 'int' : t === 'f' || t === 'd' ? 'float' : t;

/** A value as RabbitMQ's message prints it: a binary as its text (~s), anything else as Erlang's ~p. */
const shown = (v: FieldValue): string => (v.type === 'S' || v.type === 'x' ? v.value.toString('utf8') : erlangValue(v));

/**
 * Whether two argument values differ (a missing one differs from any value): values of one type
 * class that are equal do not (a byte 10 and a long 10), a double 10.0 and an integer 10 do, and
 * so do the string "10" and the number 10.
 */
export function argsDiffer(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === undefined || b === undefined) return a !== b;
  const cls = typeClass(a.type);
  if (cls !== typeClass(b.type)) return true;
  if (cls === 'int' || cls === 'float') return Number(a.value) !== Number(b.value);
  return shown(a) !== shown(b);
}

/** "received … but current is …" for an argument that differs. */
export function argMismatch(received: FieldValue | undefined, current: FieldValue | undefined): string {
  const one = (v: FieldValue | undefined): string =>
    v === undefined ? 'none' : received !== undefined && current !== undefined ? `'${shown(v)}'` : `the value '${shown(v)}' of type '${FIELD_TYPE_NAMES[v.type]}'`;
  return `received ${one(received)} but current is ${one(current)}`;
}
