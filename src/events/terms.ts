// A field table as RabbitMQ's events print one: each entry the Erlang term {Key, Type, Value} as
// ~p would print it on one line, e.g. {<<"x-max-length">>,signedint,5}.
import { FIELD_TYPE_NAMES, type FieldTable, type FieldValue } from '../frames/index.js';
import { erlangBinary } from '../server/exchanges/erlang-print.js';

function valueTerm(v: FieldValue): string {
  switch (v.type) {
    case 'S':
    case 'x':
      return erlangBinary(v.value);
    case 'F':
      return `[${termsOf(v.value).join(',')}]`;
    case 'A':
      return `[${v.value.map((e) => `{${FIELD_TYPE_NAMES[e.type]},${valueTerm(e)}}`).join(',')}]`;
    case 't':
      return String(v.value);
    case 'V':
      return 'undefined';
    case 'D':
      return `{${v.value.scale},${v.value.digits}}`;
    case 'f':
    case 'd':
      return Number.isInteger(v.value) ? `${v.value}.0` : String(v.value);
    default:
      return String(v.value);
  }
}

export function termsOf(t: FieldTable): string[] {
  return [...t].map(([k, v]) => `{${erlangBinary(k)},${FIELD_TYPE_NAMES[v.type]},${valueTerm(v)}}`);
}
