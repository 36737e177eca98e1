// Field tables to and from standalone bytes, for storing queue arguments byte-exact.
import { Reader, Writer, readTable, writeTable, type FieldTable } from '../frames/index.js';

export function writeTableBytes(t: FieldTable): Buffer {
  const w = new Writer(256);
  writeTable(w, t);
  return Buffer.from(w.take());
}

export function readTableBytes(b: Buffer): FieldTable {
  return readTable(new Reader(b, 0, b.length));
}
