// Field tables to and from standalone bytes, for storing queue arguments byte-exact.
import { Buffer } from 'node:buffer';
import { Reader, Writer, readTable, writeTable, type FieldTable } from '../frames/index.js';

export function writeTableBytes(t: FieldTable): Buffer {
  const w = new Writer(256);
  writeTable(w, t);
  return Buffer.from(w.take());
}

export function readTableBytes(b: Buffer): FieldTable {
  return readTable(new Reader(b, 0, b.length));
}

/** A string naming a table's exact content, for telling bindings apart. */
export function tableIdentity(t: FieldTable): string {
  return t.size === 0 ? '' : writeTableBytes(t).toString('base64');
}
