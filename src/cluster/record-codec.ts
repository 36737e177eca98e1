// Records of the shared topology as they travel through JetStream KV: JSON, with the byte-exact
// argument tables (Buffers) as base64, and ids made into KV keys (which allow only [-/_=.a-zA-Z0-9]).
import { Buffer } from 'node:buffer';
export function encodeRecord(value: unknown): Uint8Array {
  const json = JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    // JSON.stringify has already called Buffer#toJSON on v: the raw value is still on the holder.
    const raw = this[key];
    return Buffer.isBuffer(raw) ? { $b: raw.toString('base64') } : v;
  });
  return Buffer.from(json);
}

export function decodeRecord<T>(data: Uint8Array): T {
  return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'), (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && '$b' in v && typeof (v as { $b: unknown }).$b === 'string') return Buffer.from((v as { $b: string }).$b, 'base64');
    return v;
  }) as T;
}

/** `<kind>.<base64url(id)>`: ids hold NULs and any UTF-8, keys may not. */
export const recordKey = (kind: string, id: string): string => `${kind}.${Buffer.from(id, 'utf8').toString('base64url') || '_'}`;

export function parseRecordKey(key: string): { kind: string; id: string } | null {
  const dot = key.indexOf('.');
  if (dot <= 0) return null;
  const enc = key.slice(dot + 1);
  return { kind: key.slice(0, dot), id: enc === '_' ? '' : Buffer.from(enc, 'base64url').toString('utf8') };
}
