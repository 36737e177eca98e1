// RabbitMQ's words for a redeclare whose argument differs (rabbit_misc:assert_args_equivalence):
// both values quoted when both are there, else the one that is there with its AMQP type.
import { fromFieldValue, type FieldValue } from '../frames/index.js';

/** RabbitMQ's names of the field-table types (rabbit_binary_parser). */
const TYPE_NAMES: Record<FieldValue['type'], string> = {
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

const quoted = (v: FieldValue): string => `'${String(fromFieldValue(v))}'`;

/** Whether two argument values differ (a missing one differs from any value). */
export function argsDiffer(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === undefined || b === undefined) return a !== b;
  return quoted(a) !== quoted(b);
}

/** "received … but current is …" for an argument that differs. */
export function argMismatch(received: FieldValue | undefined, current: FieldValue | undefined): string {
  const one = (v: FieldValue | undefined): string =>
    v === undefined ? 'none' : received !== undefined && current !== undefined ? quoted(v) : `the value ${quoted(v)} of type '${TYPE_NAMES[v.type]}'`;
  return `received ${one(received)} but current is ${one(current)}`;
}
