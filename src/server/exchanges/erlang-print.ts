// Values as Erlang's ~p prints them, for the refusal texts RabbitMQ's plugins format with it
// ("The binding key must be an integer: <<"abc">>", "Invalid argument <<"ten">>, …").
import { fromFieldValue, type FieldValue } from '../../frames/index.js';

/** A binary: <<"text">> when every byte is printable ASCII, <<>> when empty, else its bytes. */
export function erlangBinary(value: string | Buffer): string {
  const b = typeof value === 'string' ? Buffer.from(value) : value;
  if (b.length === 0) return '<<>>';
  if (b.every((c) => c >= 0x20 && c < 0x7f)) return `<<"${b.toString('latin1').replace(/[\\"]/g, (c) => `\\${c}`)}">>`;
  return `<<${[...b].join(',')}>>`;
}

/** A field's value as the broker holds it: integers, floats (1.0, not 1), booleans, binaries. */
export function erlangValue(v: FieldValue): string {
  switch (v.type) {
    case 'S':
    case 'x':
      return erlangBinary(v.value);
    case 'f':
    case 'd':
      return Number.isInteger(v.value) ? `${v.value}.0` : String(v.value);
    case 't':
      return String(v.value);
    case 'V':
      return 'undefined';
    default:
      return String(fromFieldValue(v));
  }
}
