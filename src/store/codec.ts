// Byte layout of stored records and keys. Keys sort so that a queue's messages come back in order.

import { Buffer } from 'node:buffer';
import { bodyLength, joinBody } from '../frames/body.js';
import { copyInto, putU32, writeAscii } from '../frames/primitives.js';
import type { DefinitionKind, StoredMessage, StoredQueue } from './store.js';
import type { BodyRef } from './body-files.js';

export const QUEUE_PREFIX = 'q';
export const MESSAGE_PREFIX = 'm';
/** Transient messages a long queue paged out of memory: dropped whole at every start. */
export const PAGE_PREFIX = 't';
/** Key prefix of each kind of definition. */
export const DEFINITION_PREFIX: Record<DefinitionKind, string> = {
  exchange: 'e',
  binding: 'b',
  user: 'u',
  vhost: 'v',
  permission: 'p',
  topicPermission: 'P',
  policy: 'o',
  operatorPolicy: 'O',
  limits: 'l',
  globalParameter: 'g',
  parameter: 'r',
};
export const CLEAN_SHUTDOWN_KEY = Buffer.from('s\0clean');
/**
 * A quorum queue's dead-lettered messages still owed to their targets (at-least-once): kept apart
 * from its 'm' range, so they are never counted, paged or delivered as ready messages.
 */
export const DEAD_LETTER_PREFIX = 'd';
/**
 * A queue's persistent messages, a segment per value (segments.ts): 'M' 0 vhost 0 name 0 and the
 * first message's seq. Each segment's state (acked and redelivered messages) is under 'S', the
 * same key after the letter. Persistent messages written before segments are under 'm', one
 * record per message (MESSAGE_PREFIX): still read, never written any more.
 */
export const SEGMENT_PREFIX = 'M';
export const STATE_PREFIX = 'S';
/** Which body files a segment's large bodies are in (body-files.ts): 'X', then the segment's key after its letter. */
export const BODIES_PREFIX = 'X';
/** Per-queue totals written at a clean shutdown: 'c' 0 vhost 0 name. */
export const TOTALS_PREFIX = 'c';
/** A quorum queue's delivered mark (segments.ts QueueLog.delivered): 'D' 0 vhost 0 name 0, a u64 seq. */
export const DELIVERED_PREFIX = 'D';

const SEP = 0;

function strBytes(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** 'q' 0 vhost 0 name */
export function queueDefKey(vhost: string, name: string): Buffer {
  return Buffer.concat([strBytes(QUEUE_PREFIX), Buffer.from([SEP]), strBytes(vhost), Buffer.from([SEP]), strBytes(name)]);
}

/** kind 0 vhost 0 name 0 — every message key of the queue (kind 'm' or 't') starts with this. */
export function messagePrefix(vhost: string, name: string, kind: string = MESSAGE_PREFIX): Buffer {
  return Buffer.concat([
    strBytes(kind),
    Buffer.from([SEP]),
    strBytes(vhost),
    Buffer.from([SEP]),
    strBytes(name),
    Buffer.from([SEP]),
  ]);
}

/** The prefix followed by seq as 8 big-endian bytes, so byte order is seq order. */
export function messageKey(prefix: Buffer, seq: number): Buffer {
  const k = Buffer.allocUnsafe(prefix.length + 8);
  prefix.copy(k, 0);
  // Two 32-bit halves: seq stays well inside 2^53, and BigInt conversion costs on every message.
  k.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), prefix.length);
  k.writeUInt32BE(seq >>> 0, prefix.length + 4);
  return k;
}

export function encodeQueue(q: StoredQueue): Buffer {
  return Buffer.from(
    JSON.stringify({ autoDelete: q.autoDelete, arguments: q.arguments.toString('base64'), redeliverBelow: q.redeliverBelow }),
  );
}

export function decodeQueueDef(key: Buffer, value: Buffer): StoredQueue {
  const a = key.indexOf(SEP, 2);
  const v = JSON.parse(value.toString('utf8')) as { autoDelete: boolean; arguments: string; redeliverBelow?: number };
  return {
    vhost: key.toString('utf8', 2, a),
    name: key.toString('utf8', a + 1),
    autoDelete: v.autoDelete,
    arguments: Buffer.from(v.arguments, 'base64'),
    redeliverBelow: v.redeliverBelow,
  };
}

/** The key just past every key that starts with prefix (whose last byte is the 0 separator). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  end[end.length - 1] = 1;
  return end;
}

const REDELIVERED = 1;
const EXPIRES = 2;
const DELIVERY_COUNT = 4;
const SETTLED = 8;
/** The body is in a body file (body-files.ts): the record holds file(4) offset(8) length(4) instead. */
const EXTERNAL = 16;
/** BCC keys follow the settled names: count(2), each key (4+n): a header's key may pass 255 bytes. */
const BCC = 32;
/** The exchange and routing key are the segment's (RecordDefaults): not in the record. */
const SHARED_NAMES = 64;
/** The properties are the segment's (RecordDefaults): not in the record. */
const SHARED_PROPERTIES = 128;
const REF_LENGTH = 16;
const EMPTY = Buffer.alloc(0);

/**
 * What a segment (segments.ts) records once for the records that share it: its first message's
 * exchange, routing key and properties. A publisher sends the same ones with every message, and
 * for small messages they were most of each record (a 43-byte routing key and 3 bytes of
 * properties beside a 16-byte body): encoded once, the copies and the bytes LevelDB writes,
 * checksums and compacts go with them.
 */
export interface RecordDefaults {
  exchange: string;
  routingKey: string;
  properties: Buffer;
}

/** A record decoded: bodyRef is set (and body empty) while its body is still in a body file. */
export interface DecodedMessage extends StoredMessage {
  bodyRef?: BodyRef | undefined;
}

/**
 * seq(8) flags(1) [expires-at(8) when flag 2] [delivery-count(4) when flag 4] [settled when flag 8:
 * count(2), each name (1+n)] [bcc keys when flag 32: count(2), each (4+n)] [exchange(1+n)
 * routing-key(1+n) unless flag 64] [properties(4+n) unless flag 128] body(rest). Flags 64 and 128
 * only in a segment: the record shares those with the segment's defaults (RecordDefaults). The
 * seq is in the value too, so recovery can read values alone: half the buffers LevelDB has to
 * hand over. The expiry is absolute, so a TTL keeps counting across a restart.
 */
export function encodeMessage(m: StoredMessage): Buffer {
  const out = Buffer.allocUnsafe(messageLength(m));
  writeMessage(out, 0, m);
  return out;
}

/**
 * Bytes encodeMessage takes for m (with external, its body is a BodyRef); in a segment with
 * defaults d, without what m shares with them.
 */
export function messageLength(m: StoredMessage, external = false, d?: RecordDefaults): number {
  const counted = (m.deliveryCount ?? 0) > 0;
  return (
    8 +
    1 +
    (m.expiresAt !== 0 ? 8 : 0) +
    (counted ? 4 : 0) +
    namesLength(m.settled, 1) +
    namesLength(m.bcc, 4) +
    (sharesNames(m, d) ? 0 : 2 + utf8Length(m.exchange) + utf8Length(m.routingKey)) +
    (sharesProperties(m, d) ? 0 : 4 + m.properties.length) +
    (external ? REF_LENGTH : bodyLength(m.body))
  );
}

function sharesNames(m: StoredMessage, d: RecordDefaults | undefined): boolean {
  return d !== undefined && m.exchange === d.exchange && m.routingKey === d.routingKey;
}

/** The same buffer (a publisher's, shared by the assembler) or, when short, the same bytes. */
function sharesProperties(m: StoredMessage, d: RecordDefaults | undefined): boolean {
  if (d === undefined) return false;
  const a = m.properties;
  const b = d.properties;
  if (a === b) return true;
  return a.length === b.length && a.length <= SHARED_PROPERTIES_MAX && sameBytes(a, 0, b);
}

/** The defaults' bytes at the head of a segment: exchange(1+n) routing-key(1+n) properties(4+n). */
export function defaultsLength(d: RecordDefaults): number {
  return 2 + utf8Length(d.exchange) + utf8Length(d.routingKey) + 4 + d.properties.length;
}

export function writeDefaults(out: Buffer, p: number, d: RecordDefaults): number {
  p = writeExchangeAndKey(out, p, d.exchange, d.routingKey);
  putU32(out, p, d.properties.length);
  return copyInto(d.properties, out, p + 4);
}

/** exchange(1+n) routing-key(1+n), as a record and a segment's defaults hold them. */
function writeExchangeAndKey(out: Buffer, p: number, exchange: string, routingKey: string): number {
  const exLen = utf8Length(exchange);
  const rkLen = utf8Length(routingKey);
  out[p++] = exLen;
  p += writeName(out, p, exchange, exLen);
  out[p++] = rkLen;
  return p + writeName(out, p, routingKey, rkLen);
}

/** The position after the defaults writeDefaults wrote at p. */
export function skipDefaults(v: Buffer, p: number): number {
  p += 1 + v[p]!;
  p += 1 + v[p]!;
  return p + 4 + v.readUInt32BE(p);
}

/** Reads the defaults writeDefaults wrote at p; names shared through last, as decodeMessage's. */
export function decodeDefaults(v: Buffer, p: number, last?: NameCache): RecordDefaults {
  const exLen = v[p++]!;
  const exchange = sharedString(v, p, p + exLen, last?.ex);
  p += exLen;
  const rkLen = v[p++]!;
  const routingKey = sharedString(v, p, p + rkLen, last?.rk);
  p += rkLen;
  const propLen = v.readUInt32BE(p);
  p += 4;
  return { exchange, routingKey, properties: sharedProperties(v, p, p + propLen, last) };
}

/**
 * Writes m's record (encodeMessage's layout) at p, with ref instead of its body if given, and
 * without what it shares with its segment's defaults d; returns the position after it.
 */
export function writeMessage(out: Buffer, p: number, m: StoredMessage, ref?: BodyRef, d?: RecordDefaults): number {
  p = writeMessageHead(out, p, m, ref, d);
  return ref ? p : copyInto(joinBody(m.body), out, p);
}

/** A record's bytes before its body (a page file writes the body apart): messageLength less the body's. */
export function messageHeadLength(m: StoredMessage): number {
  return messageLength(m) - bodyLength(m.body);
}

/** writeMessage without the body (with ref: the whole record); returns where the body goes. */
export function writeMessageHead(out: Buffer, p: number, m: StoredMessage, ref?: BodyRef, d?: RecordDefaults): number {
  const names = !sharesNames(m, d);
  const props = !sharesProperties(m, d);
  const expires = m.expiresAt !== 0;
  const counted = (m.deliveryCount ?? 0) > 0;
  const settled = m.settled && m.settled.length > 0 ? m.settled.map(strBytes) : null;
  const bcc = m.bcc && m.bcc.length > 0 ? m.bcc.map(strBytes) : null;
  putU32(out, p, Math.floor(m.seq / 0x1_0000_0000));
  putU32(out, p + 4, m.seq >>> 0);
  p += 8;
  out[p++] =
    (m.redelivered ? REDELIVERED : 0) |
    (expires ? EXPIRES : 0) |
    (counted ? DELIVERY_COUNT : 0) |
    (settled ? SETTLED : 0) |
    (ref ? EXTERNAL : 0) |
    (bcc ? BCC : 0) |
    (names ? 0 : SHARED_NAMES) |
    (props ? 0 : SHARED_PROPERTIES);
  if (expires) p = out.writeDoubleBE(m.expiresAt, p);
  if (counted) p = out.writeUInt32BE(m.deliveryCount!, p);
  if (settled) p = writeNames(out, p, settled, 1);
  if (bcc) p = writeNames(out, p, bcc, 4);
  if (names) p = writeExchangeAndKey(out, p, m.exchange, m.routingKey);
  if (props) {
    putU32(out, p, m.properties.length);
    p = copyInto(m.properties, out, p + 4);
  }
  if (ref) {
    p = out.writeUInt32BE(ref.file, p);
    p = out.writeDoubleBE(ref.offset, p);
    return out.writeUInt32BE(ref.length, p);
  }
  return p;
}

// Exchange names and routing keys are short and nearly always ASCII: measured and written in place
// rather than through a Buffer per name (two allocations per stored message otherwise). A message
// is measured, then written: the last two names measured are remembered (a publisher's exchange
// and routing key, the same string objects each time: see ShortStrCache), with their bytes once
// one is written (copying bytes costs less than encoding characters).
let memoA = '';
let memoALen = 0;
let memoABytes: Buffer | null = null;
let memoB = '';
let memoBLen = 0;
let memoBBytes: Buffer | null = null;
function utf8Length(s: string): number {
  if (s.length === 0) return 0;
  if (s === memoA) return memoALen;
  if (s === memoB) return memoBLen;
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      n = Buffer.byteLength(s, 'utf8');
      break;
    }
  }
  memoB = memoA;
  memoBLen = memoALen;
  memoBBytes = memoABytes;
  memoA = s;
  memoALen = n;
  memoABytes = null;
  return n;
}

function writeName(out: Buffer, p: number, s: string, byteLength: number): number {
  if (byteLength === 0) return 0;
  const b = s === memoA ? (memoABytes ??= Buffer.from(s, 'utf8')) : s === memoB ? (memoBBytes ??= Buffer.from(s, 'utf8')) : null;
  if (b) return copyInto(b, out, p) - p;
  return byteLength === s.length ? writeAscii(out, p, s) : out.write(s, p, byteLength, 'utf8');
}

/** A name as last decoded: its bytes in the record, and the string made of them. */
class SharedName {
  bytes: Buffer = EMPTY;
  str = '';
}

/**
 * Exchange, routing key and properties of the last record decoded: a backlog repeats the same few.
 * One object per name, so that each lookup is a load of a known field (a field picked by a key
 * argument was a megamorphic keyed load per name: 2.5% of a backlog drain's main thread).
 */
export class NameCache {
  readonly ex = new SharedName();
  readonly rk = new SharedName();
  props: Buffer | null = null;
}

/**
 * Decodes a message record, v[start, end) (a segment's records are decoded in place, without a
 * view each); repeated exchange and routing-key strings are shared via last; d: the defaults of
 * the record's segment, for what it shares with them.
 */
export function decodeMessage(v: Buffer, last?: NameCache, start = 0, end = v.length, d?: RecordDefaults): DecodedMessage {
  const seq = seqOf(v, start);
  let p = start + 8;
  const flags = v[p++]!;
  let expiresAt = 0;
  if (flags & EXPIRES) {
    expiresAt = v.readDoubleBE(p);
    p += 8;
  }
  let deliveryCount: number | undefined;
  if (flags & DELIVERY_COUNT) {
    deliveryCount = v.readUInt32BE(p);
    p += 4;
  }
  let settled: string[] | undefined;
  if (flags & SETTLED) {
    settled = [];
    p = readNames(v, p, settled, 1);
  }
  let bcc: string[] | undefined;
  if (flags & BCC) {
    bcc = [];
    p = readNames(v, p, bcc, 4);
  }
  if (flags & (SHARED_NAMES | SHARED_PROPERTIES) && !d) throw new Error(`record of message ${seq} shares its segment's names or properties, and none were given`);
  let exchange: string;
  let routingKey: string;
  if (flags & SHARED_NAMES) {
    exchange = d!.exchange;
    routingKey = d!.routingKey;
  } else {
    const exLen = v[p++]!;
    exchange = sharedString(v, p, p + exLen, last?.ex);
    p += exLen;
    const rkLen = v[p++]!;
    routingKey = sharedString(v, p, p + rkLen, last?.rk);
    p += rkLen;
  }
  let properties: Buffer;
  if (flags & SHARED_PROPERTIES) properties = d!.properties;
  else {
    const propLen = v.readUInt32BE(p);
    p += 4;
    properties = sharedProperties(v, p, p + propLen, last);
    p += propLen;
  }
  const m: DecodedMessage = { seq, redelivered: (flags & REDELIVERED) !== 0, exchange, routingKey, properties, body: v.subarray(p, end), expiresAt };
  if (flags & EXTERNAL) {
    m.body = EMPTY;
    m.bodyRef = { file: v.readUInt32BE(p), offset: v.readDoubleBE(p + 4), length: v.readUInt32BE(p + 12) };
  }
  if (deliveryCount !== undefined) m.deliveryCount = deliveryCount;
  if (settled !== undefined) m.settled = settled;
  if (bcc !== undefined) m.bcc = bcc;
  return m;
}

// A list of names: count(2), then each name's length in lenBytes (1: a queue name; 4: a BCC
// key, a header value of any length) and its bytes.

function namesLength(names: readonly string[] | undefined, lenBytes: 1 | 4): number {
  if (!names || names.length === 0) return 0;
  let n = 2;
  for (const s of names) n += lenBytes + Buffer.byteLength(s, 'utf8');
  return n;
}

function writeNames(out: Buffer, p: number, names: Buffer[], lenBytes: 1 | 4): number {
  p = out.writeUInt16BE(names.length, p);
  for (const b of names) {
    if (lenBytes === 1) out[p++] = b.length;
    else p = out.writeUInt32BE(b.length, p);
    p += b.copy(out, p);
  }
  return p;
}

/** Reads a list of names into out; returns the position after it. */
function readNames(v: Buffer, p: number, out: string[], lenBytes: 1 | 4): number {
  const n = v.readUInt16BE(p);
  p += 2;
  for (let i = 0; i < n; i++) {
    const len = lenBytes === 1 ? v[p]! : v.readUInt32BE(p);
    p += lenBytes;
    out.push(v.toString('utf8', p, p + len));
    p += len;
  }
  return p;
}

/** The position after a list of names. */
function skipNames(v: Buffer, p: number, lenBytes: 1 | 4): number {
  const n = v.readUInt16BE(p);
  p += 2;
  for (let i = 0; i < n; i++) p += lenBytes + (lenBytes === 1 ? v[p]! : v.readUInt32BE(p));
  return p;
}

/** The seq of the record at start. */
export function seqOf(v: Buffer, start = 0): number {
  return v.readUInt32BE(start) * 0x1_0000_0000 + v.readUInt32BE(start + 4);
}

/** The body size of the message record v[start, end), without decoding it. */
/** Where record v[start, end)'s body lies in a body file; null when the body is in the record. */
export function bodyRefOf(v: Buffer, start: number, end: number): BodyRef | null {
  if (!(v[start + 8]! & EXTERNAL)) return null;
  const p = end - REF_LENGTH;
  return { file: v.readUInt32BE(p), offset: v.readDoubleBE(p + 4), length: v.readUInt32BE(p + 12) };
}

/** Points record v[start, end), whose body is in a body file, at ref instead (in place: same length). */
export function setBodyRef(v: Buffer, end: number, ref: BodyRef): void {
  const p = end - REF_LENGTH;
  v.writeUInt32BE(ref.file, p);
  v.writeDoubleBE(ref.offset, p + 4);
  v.writeUInt32BE(ref.length, p + 12);
}

export function bodyLengthOf(v: Buffer, start = 0, end = v.length): number {
  const flags = v[start + 8]!;
  let p = start + 9 + (flags & EXPIRES ? 8 : 0) + (flags & DELIVERY_COUNT ? 4 : 0);
  if (flags & SETTLED) p = skipNames(v, p, 1);
  if (flags & BCC) p = skipNames(v, p, 4);
  if (!(flags & SHARED_NAMES)) {
    p += 1 + v[p]!;
    p += 1 + v[p]!;
  }
  if (!(flags & SHARED_PROPERTIES)) p += 4 + v.readUInt32BE(p);
  return flags & EXTERNAL ? v.readUInt32BE(p + 12) : end - p;
}

/** Whether v holds b's bytes at start: a byte loop, as names are short (Buffer#compare is a native call per record). */
function sameBytes(v: Buffer, start: number, b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (v[start + i] !== b[i]) return false;
  return true;
}

/** Properties up to this size are compared with the last message's (a byte loop per message). */
const SHARED_PROPERTIES_MAX = 128;

/**
 * A backlog's messages mostly carry the same properties (a publisher's delivery mode, its content
 * type): consecutive equal ones share one view, rather than each taking its own (an object per
 * message read back, most of what a page read leaves to the GC besides the message itself). The
 * cache lives for one read, as the names' does. Nothing writes into a message's properties: they
 * go to consumers as they came.
 */
function sharedProperties(v: Buffer, start: number, end: number, last: NameCache | undefined): Buffer {
  const n = end - start;
  const prev = last?.props;
  if (prev && prev.length === n && n <= SHARED_PROPERTIES_MAX && sameBytes(v, start, prev)) return prev;
  const props = v.subarray(start, end);
  if (last) last.props = props;
  return props;
}

/** A backlog repeats the same few names a million times: decode each once. */
function sharedString(v: Buffer, start: number, end: number, last: SharedName | undefined): string {
  if (last && last.bytes.length === end - start && sameBytes(v, start, last.bytes)) return last.str;
  const str = v.toString('utf8', start, end);
  if (last) {
    last.bytes = v.subarray(start, end);
    last.str = str;
  }
  return str;
}

/** prefix, 0, id: the key of a definition. */
export function definitionKey(prefix: string, id: string): Buffer {
  return Buffer.from(`${prefix}\0${id}`, 'utf8');
}

/** Definitions are small and rare: JSON, with Buffers (argument tables) as base64. */
export function encodeDefinition(v: object): Buffer {
  return Buffer.from(JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
    const raw = this[k];
    return Buffer.isBuffer(raw) ? { b64: raw.toString('base64') } : x;
  }));
}

export function decodeDefinition(v: Buffer): unknown {
  return JSON.parse(v.toString('utf8'), (_k, x: unknown) =>
    x && typeof x === 'object' && 'b64' in x && typeof x.b64 === 'string' ? Buffer.from(x.b64, 'base64') : x,
  );
}
