// A stream's append-only log (x-queue-type: stream), as RabbitMQ 3.10's osiris log behaves for
// AMQP 0-9-1 consumers. Each message gets the next dense offset 0, 1, 2, … and is written to the
// store under the stream's message keys with seq = offset + 1 (byte order = offset order); the
// record's expiresAt field holds its append time (ms), which timestamp offsets and x-max-age use.
// The log is cut into segments of x-stream-max-segment-size-bytes (default 500 MB) kept in
// memory as offset ranges; retention (x-max-length-bytes, x-max-age) removes whole old segments
// only, with one range delete, as RabbitMQ does — so a stream may hold a bit more than its limit.
// Each consumer has a reader that fetches pages from the store (never the whole log in memory),
// from its x-stream-offset, and delivers within its prefetch window; acks only open the window.
import { Buffer } from 'node:buffer';
import { AmqpError, ReplyCode, Writer, encodeBasicProperties, fromFieldValue, type FieldTable, type FieldValue } from '../frames/index.js';
import type { Consumer } from './consumer.js';
import { Message, type Entry } from './message.js';
import type { Queue } from './queue.js';
import { parseDuration } from './queue-types/stream.js';
import type { ReadMessage } from '../store/store.js';

const DEFAULT_SEGMENT_BYTES = 500_000_000;
/**
 * Messages a reader fetches at once: a whole store segment (up to 4,096 messages, segments.ts),
 * since a smaller page reads the same segment again for each part of it.
 */
const PAGE_COUNT = 4096;
const PAGE_BYTES = 1024 * 1024;

interface Segment {
  /** Offset of its first message. */
  first: number;
  count: number;
  bytes: number;
  /** Append time of its last message (ms). */
  lastTs: number;
}

/** Where a consumer starts: an offset, or the first message appended at or after a time. */
export type StreamStart = { offset: number } | { atOrAfter: number } | 'first' | 'last' | 'next';

class Reader {
  /** Next offset to fetch from the store. */
  pos = 0;
  /** The page being delivered, from buf[at] on (an index: shifting an array costs per message). */
  buf: ReadMessage[] = [];
  at = 0;
  /**
   * The next page, read while the current one is delivered so the consumer never waits for the
   * store between pages; at most one ahead, so a slow consumer holds two pages in memory.
   */
  ahead: ReadMessage[] | null = null;
  reading = false;
  closed = false;
  /** Messages appended before this time are skipped (a timestamp or interval start). */
  minTs = 0;
  constructor(readonly consumer: Consumer) {}
}

const stop = (text: string): never => {
  throw new AmqpError(ReplyCode.PreconditionFailed, text, 'channel');
};

/** x-stream-offset of a basic.consume, 406 as RabbitMQ 3.10.8 for a value it cannot use. */
export function parseStreamOffset(queue: string, vhost: string, args: FieldTable): StreamStart {
  const v: FieldValue | undefined = args.get('x-stream-offset');
  if (v === undefined) return 'next';
  const bad = (shown: string): never => stop(`invalid arg 'x-stream-offset' for queue '${queue}' in vhost '${vhost}': {invalid_stream_offset_arg,${shown}}`);
  if (v.type === 'S') {
    const s = String(fromFieldValue(v));
    if (s === 'first' || s === 'last' || s === 'next') return s;
    const ms = parseDuration(s);
    if (ms === undefined) return bad(`{longstr,<<"${s}">>}`);
    return { atOrAfter: Date.now() - ms };
  }
  if (v.type === 'T') return { atOrAfter: Number(fromFieldValue(v)) * 1000 };
  if (['b', 'B', 's', 'u', 'I', 'i', 'l'].includes(v.type)) return { offset: Number(fromFieldValue(v)) };
  return bad(`{${v.type},${String(fromFieldValue(v))}}`);
}

/**
 * What a stream queue asks of its log: this file's StreamLog on one node, a replicated log in a
 * cluster (the queue's constructor is given a maker for it). Offsets, retention and readers are
 * the log's; the queue only appends, counts and hands consumers to it.
 */
export interface AppendLog {
  readonly count: number;
  readonly bytes: number;
  /** The queue is declared or recovered: the log takes the settings in effect now. */
  start(): void;
  append(msg: Message): void;
  recover(): Promise<{ count: number; lastSeq: number }>;
  addReader(c: Consumer): void;
  removeReader(c: Consumer): void;
  /** Delivers what readers have fetched, within their consumers' windows, and fetches more. */
  dispatch(): void;
  destroy(): void;
  /** The queue's arguments in effect changed (a policy): a log that keeps its retention apart takes the new one. */
  retentionChanged?(): void;
}

export class StreamLog implements AppendLog {
  private segments: Segment[] = [];
  /** Offset the next message gets. */
  next = 0;
  /** Offset of the first message still in the log (older segments were removed). */
  first = 0;
  private bytesHeld = 0;
  /** Start of the last chunk (RabbitMQ's 'last'): the first offset appended in the latest tick. */
  private lastChunk = 0;
  private inTick = false;
  private readonly readers = new Map<Consumer, Reader>();

  constructor(private readonly q: Queue) {}

  get count(): number {
    return this.next - this.first;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /**
   * The segment size the log was started with. As in RabbitMQ 3.10.8, a policy (it wins over the
   * argument) sets it when the stream is declared or the broker starts; a policy changed later
   * applies from the next start only (osiris updates a running writer's retention, not its
   * segment size), while max-age and max-length-bytes apply at once.
   */
  private segmentBytes: number | null = null;

  private get segmentLimit(): number {
    this.segmentBytes ??= this.q.args.maxSegmentBytes ?? DEFAULT_SEGMENT_BYTES;
    return this.segmentBytes;
  }

  /** Takes the segment size in effect now (the queue's arguments with its policy) as the log's. */
  start(): void {
    void this.segmentLimit;
  }

  append(msg: Message): void {
    const now = Date.now();
    const offset = this.next++;
    if (!this.inTick) {
      this.inTick = true;
      this.lastChunk = offset;
      setImmediate(() => (this.inTick = false));
    }
    const v = this.q.vhost;
    v.store.putMessage(v.name, this.q.name, {
      seq: offset + 1,
      redelivered: false,
      exchange: msg.exchange,
      routingKey: msg.routingKey,
      properties: msg.properties,
      body: msg.body,
      expiresAt: now,
    });
    let seg = this.segments[this.segments.length - 1];
    let rolled = false;
    if (!seg || (seg.count > 0 && seg.bytes + msg.bodySize > this.segmentLimit)) {
      seg = { first: offset, count: 0, bytes: 0, lastTs: now };
      this.segments.push(seg);
      rolled = this.segments.length > 1;
    }
    seg.count++;
    seg.bytes += msg.bodySize;
    seg.lastTs = now;
    this.bytesHeld += msg.bodySize;
    // As osiris: retention (x-max-length-bytes and x-max-age alike) is evaluated when a segment is
    // full and a new one begins, never on a timer.
    if (rolled) this.retain();
    if (this.readers.size > 0) this.q.scheduleDispatch();
  }

  /** Removes whole old segments past x-max-length-bytes or x-max-age; never the active one. */
  retain(): void {
    const maxBytes = this.q.args.maxLengthBytes;
    const maxAge = this.q.args.maxAge;
    const now = Date.now();
    let drop = 0;
    let held = this.bytesHeld;
    while (drop < this.segments.length - 1) {
      const s = this.segments[drop]!;
      const overBytes = maxBytes !== undefined && held > maxBytes;
      const tooOld = maxAge !== undefined && s.lastTs < now - maxAge;
      if (!overBytes && !tooOld) break;
      held -= s.bytes;
      drop++;
    }
    if (drop === 0) return;
    const gone = this.segments.splice(0, drop);
    for (const s of gone) this.bytesHeld -= s.bytes;
    this.first = this.segments[0]!.first;
    const v = this.q.vhost;
    v.store.deleteMessagesBelow(v.name, this.q.name, this.first + 1);
  }

  /** Reads the log back after a restart, page by page, to rebuild its segments. */
  async recover(): Promise<{ count: number; lastSeq: number }> {
    const v = this.q.vhost;
    let from = 0;
    const limit = this.segmentLimit;
    for (;;) {
      const page = await v.store.readMessages(v.name, this.q.name, from, 10_000, 16 * 1024 * 1024);
      if (page.length === 0) break;
      for (const m of page) {
        const offset = m.seq - 1;
        if (this.segments.length === 0) this.first = offset;
        let seg = this.segments[this.segments.length - 1];
        if (!seg || (seg.count > 0 && seg.bytes + m.body.length > limit)) {
          seg = { first: offset, count: 0, bytes: 0, lastTs: m.expiresAt };
          this.segments.push(seg);
        }
        seg.count++;
        seg.bytes += m.body.length;
        seg.lastTs = m.expiresAt;
        this.bytesHeld += m.body.length;
        this.next = offset + 1;
      }
      from = page[page.length - 1]!.seq + 1;
    }
    this.lastChunk = Math.max(this.first, this.next - 1);
    return { count: this.count, lastSeq: 0 };
  }

  addReader(c: Consumer): void {
    const r = new Reader(c);
    const start = c.streamStart ?? 'next';
    if (start === 'first') r.pos = this.first;
    else if (start === 'last') r.pos = this.lastChunk;
    else if (start === 'next') r.pos = this.next;
    else if ('offset' in start) r.pos = start.offset < this.first ? this.first : start.offset > this.next ? this.next : start.offset;
    else {
      // The first segment holding a message appended at or after the time; the reader skips the
      // older messages in it.
      const seg = this.segments.find((s) => s.lastTs >= start.atOrAfter);
      r.pos = seg ? seg.first : this.next;
      r.minTs = start.atOrAfter;
    }
    this.readers.set(c, r);
  }

  removeReader(c: Consumer): void {
    const r = this.readers.get(c);
    if (r) r.closed = true;
    this.readers.delete(c);
  }

  destroy(): void {
    for (const r of this.readers.values()) r.closed = true;
    this.readers.clear();
  }

  /** Delivers what each reader has fetched, within its consumer's window, and fetches more. */
  dispatch(): void {
    for (const r of this.readers.values()) {
      while (r.consumer.hasCapacity) {
        if (r.at >= r.buf.length) {
          if (!r.ahead) break;
          r.buf = r.ahead;
          r.at = 0;
          r.ahead = null;
        }
        const m = r.buf[r.at++]!;
        if (m.expiresAt < r.minTs) continue;
        r.minTs = 0;
        r.consumer.deliver(this.entryOf(m));
      }
      if (r.at >= r.buf.length && r.buf.length > 0) {
        r.buf = [];
        r.at = 0;
      }
      if (!r.reading && r.ahead === null) {
        if (r.pos < this.first) r.pos = this.first;
        if (r.pos < this.next) this.fetch(r);
      }
    }
  }

  private fetch(r: Reader): void {
    r.reading = true;
    const v = this.q.vhost;
    v.store.readMessages(v.name, this.q.name, r.pos + 1, PAGE_COUNT, PAGE_BYTES).then(
      (page) => {
        r.reading = false;
        if (r.closed) return;
        // Messages removed by retention since: the reader moves on to the first one left.
        let skip = 0;
        while (skip < page.length && page[skip]!.seq - 1 < r.pos) skip++;
        if (skip === page.length) {
          if (r.pos < this.first) this.q.scheduleDispatch();
          return;
        }
        const fresh = skip === 0 ? page : page.slice(skip);
        r.pos = fresh[fresh.length - 1]!.seq;
        if (r.at < r.buf.length) r.ahead = fresh;
        else {
          r.buf = fresh;
          r.at = 0;
        }
        this.q.scheduleDispatch();
      },
      () => {
        r.reading = false;
      },
    );
  }

  /** The delivery of a stored record (seq = offset + 1). */
  private entryOf(m: ReadMessage): Entry {
    return streamEntry(m.seq, m.exchange, m.routingKey, m.properties, m.body, m.seq - 1);
  }
}

/**
 * A stream message's delivery: its properties with the x-stream-offset header added (replacing
 * one the publisher sent), never flagged redelivered.
 */
export function streamEntry(seq: number, exchange: string, routingKey: string, properties: Buffer, body: Buffer, offset: number): Entry {
  const props = withStreamOffset(properties, offset) ?? reencoded(seq, exchange, routingKey, properties, body, offset);
  return { msg: new Message(seq, exchange, routingKey, props, body, true), redelivered: false, expiresAt: 0 };
}

/** Properties that already carry headers: decoded, the header set (replacing one the publisher sent), encoded. */
function reencoded(seq: number, exchange: string, routingKey: string, properties: Buffer, body: Buffer, offset: number): Buffer {
  const props = new Message(seq, exchange, routingKey, properties, body, true).decoded();
  const headers = new Map(props.headers ?? []);
  headers.set('x-stream-offset', { type: 'l', value: BigInt(offset) });
  const w = new Writer(256);
  encodeBasicProperties(w, { ...props, headers });
  return Buffer.from(w.take());
}

const HEADERS_FLAG = 0x2000;
const CONTENT_TYPE_FLAG = 0x8000;
const CONTENT_ENCODING_FLAG = 0x4000;
/** The x-stream-offset entry of a field table: its name as a short string, type 'l', 8 bytes. */
const OFFSET_ENTRY_NAME = Buffer.from('\x0fx-stream-offset', 'latin1');
const OFFSET_ENTRY_BYTES = OFFSET_ENTRY_NAME.length + 1 + 8;

/**
 * src[from, to) into dst at `at`; returns the position after it. Property lists are a few dozen
 * bytes: a byte loop costs less there than Buffer#copy's native call, made four times a delivery.
 */
function copyBytes(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  if (to - from > 64) return at + src.copy(dst, at, from, to);
  for (let i = from; i < to; i++) dst[at++] = src[i]!;
  return at;
}

/**
 * The properties with x-stream-offset appended to their headers table (one made when there is
 * none), splicing bytes instead of decoding and re-encoding them: the publisher's bytes pass
 * through as they came, as RabbitMQ passes them. null when the headers may already hold an
 * x-stream-offset (the caller then decodes, and the offset replaces it).
 */
export function withStreamOffset(p: Buffer, offset: number): Buffer | null {
  const flags = p.readUInt16BE(0);
  // content-type and content-encoding (short strings) come before headers in the property list.
  let at = 2;
  if (flags & CONTENT_TYPE_FLAG) at += 1 + p[at]!;
  if (flags & CONTENT_ENCODING_FLAG) at += 1 + p[at]!;
  const had = (flags & HEADERS_FLAG) !== 0;
  // amqplib sends an empty table with every publish; a non-empty one is searched for the name.
  const tableBytes = had ? p.readUInt32BE(at) : 0;
  const tableEnd = had ? at + 4 + tableBytes : at;
  if (tableBytes > 0) {
    const found = p.indexOf(OFFSET_ENTRY_NAME, at + 4);
    if (found >= 0 && found < tableEnd) return null;
  }
  const out = Buffer.allocUnsafe(p.length + (had ? 0 : 4) + OFFSET_ENTRY_BYTES);
  out.writeUInt16BE(flags | HEADERS_FLAG, 0);
  let o = copyBytes(p, 2, at, out, 2);
  out.writeUInt32BE(tableBytes + OFFSET_ENTRY_BYTES, o);
  o = copyBytes(p, at + 4, tableEnd, out, o + 4);
  o = copyBytes(OFFSET_ENTRY_NAME, 0, OFFSET_ENTRY_NAME.length, out, o);
  out[o++] = 0x6c; // 'l', a signed 64-bit long, as RabbitMQ sends it
  // Offsets stay far below 2^53: two 32-bit halves, without a BigInt per message.
  out.writeUInt32BE(Math.floor(offset / 0x1_0000_0000), o);
  out.writeUInt32BE(offset >>> 0, o + 4);
  copyBytes(p, tableEnd, p.length, out, o + 8);
  return out;
}
