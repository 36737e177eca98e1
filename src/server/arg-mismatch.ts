// RabbitMQ's words for a redeclare whose argument differs (rabbit_misc:assert_args_equivalence):
// both values quoted when both are there, else the one that is there with its AMQP type.
import { FIELD_TYPE_NAMES, fromFieldValue, type FieldValue } from '../frames/index.js';


const quoted = (v: FieldValue): string => `'${String(fromFieldValue(v))}'`;

/** Whether two argument values differ (a missing one differs from any value). */
export function argsDiffer(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === undefined || b === undefined) return a !== b;
  return quoted(a) !== quoted(b);
}

/** "received … but current is …" for an argument that differs. */
export function argMismatch(received: FieldValue | undefined, current: FieldValue | undefined): string {
  const one = (v: FieldValue | undefined): string =>
    v === undefined ? 'none' : received !== undefined && current !== undefined ? quoted(v) : `the value ${quoted(v)} of type '${FIELD_TYPE_NAMES[v.type]}'`;
  return `received ${one(received)} but current is ${one(current)}`;
}
