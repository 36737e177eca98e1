// How a queue's persistent messages lie in LevelDB: in segments, as RabbitMQ's and LavinMQ's
// segment files hold them, rather than one record per message. The messages a queue takes in one
// batch (group commit) are written as one value (up to SEGMENT_MAX_COUNT messages or
// SEGMENT_MAX_BYTES), keyed by the seq of its first message, so a queue's segments sort in seq
// order. Acks never rewrite a segment: each segment's state (which messages are acked, which were
// delivered before a clean shutdown) is a small record beside it, rewritten in the batch after
// the acks; once every message of a segment is acked, the segment and its state are deleted.
//
// Why: one LevelDB record per message cost a key, a native call and a skiplist insert per
// message on the way in, and a tombstone per message on the way out. With segments, a batch of a
// thousand publishes is one put, and a thousand acks a few small state writes.
//
// Segment value: version(1) count(4), in version 2 the defaults (codec.ts RecordDefaults: the first
// message's exchange, routing key and properties, which the records that share them leave out),
// then count records, each length(4) + the record (codec.ts writeMessage: its seq first).
// Version 1 (no defaults, every record whole) is still read. State value: flags(1) count(4), then
// the acked bitmap when flag 1, the redelivered bitmap when flag 2 (bit i is the segment's i-th
// message), when flag 4 the delivery counts changed since the put: n(4), then n × (i(4)
// count(4)) (a quorum queue's message returned in place, see Queue.returnToFront), and when flag 8
// the returned bitmap: messages at or below the queue's delivered mark (QueueLog.delivered) that
// were returned in place and not delivered again, so not out to a consumer.
import { Buffer } from 'node:buffer';
import type { StoredMessage } from './store.js';
import { decodeDefaults, defaultsLength, messageKey, seqOf, skipDefaults, writeDefaults, type NameCache, type RecordDefaults } from './codec.js';
import { putU32 } from '../frames/primitives.js';

/** Segments with defaults; version 1's, without, are still read. */
const SEGMENT_VERSION = 2;
/** Most messages in one segment: bounds the state record and what one read decodes. */
export const SEGMENT_MAX_COUNT = 4096;
/** A segment is closed once its records reach this size (a bigger message is a segment alone). */
export const SEGMENT_MAX_BYTES = 1024 * 1024;
const STATE_ACKED = 1;
const STATE_REDELIVERED = 2;
const STATE_COUNTS = 4;
const STATE_BACK = 8;

/** Bit i of a segment's bitmap (acked, redelivered, back); none set without one. */
const hasBit = (bits: Uint8Array | null, i: number): boolean => bits !== null && (bits[i >>> 3]! & (1 << (i & 7))) !== 0;

/** One segment as the store knows it in memory: no message is held, only their seqs' layout. */
export class Segment {
  /** Messages not acked yet; at 0 the segment is deleted. */
  live: number;
  acked: Uint8Array | null = null;
  redelivered: Uint8Array | null = null;
  /** Delivery counts of messages returned in place since their put, by index (quorum queues). */
  counts: Map<number, number> | null = null;
  /** Messages returned in place and not delivered again since (quorum queues: see QueueLog.delivered). */
  back: Uint8Array | null = null;
  /** Its state changed since the state record was last written (LevelStore keeps the list). */
  dirty = false;
  /** A state record was written for it (to be deleted with it). */
  stateStored = false;
  /** Removed by a range delete or with its queue: nothing more is written for it. */
  gone = false;
  /** The body files its messages' large bodies are in (body-files.ts), null when none is. */
  files: number[] | null = null;

  constructor(
    /** The queue it belongs to. */
    readonly log: QueueLog,
    readonly first: number,
    readonly last: number,
    readonly count: number,
    /** seq - first of each message; null when the seqs are consecutive (a stream's, a lone queue's). */
    readonly deltas: Uint32Array | null,
    /** The queue's generation its messages were put in (QueueLog.generation); 0 if read back. */
    readonly generation = 0,
  ) {
    this.live = count;
  }

  get key(): Buffer {
    return messageKey(this.log.prefix, this.first);
  }

  get stateKey(): Buffer {
    return messageKey(this.log.statePrefix, this.first);
  }

  /** Key of the record naming its body files ('X' …), when it has some. */
  get bodiesKey(): Buffer {
    return messageKey(this.log.bodiesPrefix, this.first);
  }

  /** The seq of message i. */
  seqAt(i: number): number {
    return this.first + (this.deltas ? this.deltas[i]! : i);
  }

  /** The index of seq in the segment, -1 when it holds no such message. */
  position(seq: number): number {
    if (seq < this.first || seq > this.last) return -1;
    const d = seq - this.first;
    const ds = this.deltas;
    if (!ds) return d;
    let lo = 0;
    let hi = ds.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = ds[mid]!;
      if (v === d) return mid;
      if (v < d) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  isAcked(i: number): boolean {
    return hasBit(this.acked, i);
  }

  isRedelivered(i: number): boolean {
    return hasBit(this.redelivered, i);
  }

  /** Marks message i acked; false when it already was. */
  ack(i: number): boolean {
    this.acked ??= new Uint8Array((this.count + 7) >>> 3);
    const bit = 1 << (i & 7);
    if (this.acked[i >>> 3]! & bit) return false;
    this.acked[i >>> 3]! |= bit;
    this.live--;
    return true;
  }

  /**
   * Marks message i redelivered. With a delivery count (a quorum queue's return in place) it is
   * also back in its queue, no longer out to a consumer though below the delivered mark.
   */
  markRedelivered(i: number, deliveryCount?: number): void {
    this.redelivered ??= new Uint8Array((this.count + 7) >>> 3);
    this.redelivered[i >>> 3]! |= 1 << (i & 7);
    if (deliveryCount === undefined || deliveryCount <= 0) return;
    (this.counts ??= new Map()).set(i, deliveryCount);
    this.markBack(i);
  }

  isBack(i: number): boolean {
    return hasBit(this.back, i);
  }

  markBack(i: number): void {
    this.back ??= new Uint8Array((this.count + 7) >>> 3);
    this.back[i >>> 3]! |= 1 << (i & 7);
  }

  /** Message i, returned in place, was delivered again: false when it was not marked back. */
  clearBack(i: number): boolean {
    if (!this.isBack(i)) return false;
    this.back![i >>> 3]! &= ~(1 << (i & 7));
    return true;
  }

  /** Message i's delivery count as last marked, undefined when none was. */
  deliveryCountAt(i: number): number | undefined {
    return this.counts?.get(i);
  }

  /** Takes over a state record read back from the store. */
  applyState(v: Buffer): void {
    const flags = v[0]!;
    const count = v.readUInt32BE(1);
    if (count !== this.count) return; // not this segment's (cannot happen: keys are unique)
    const n = (count + 7) >>> 3;
    let p = 5;
    if (flags & STATE_ACKED) {
      this.acked = new Uint8Array(v.subarray(p, p + n));
      p += n;
      let acked = 0;
      for (let i = 0; i < count; i++) if (this.isAcked(i)) acked++;
      this.live = count - acked;
    }
    if (flags & STATE_REDELIVERED) {
      this.redelivered = new Uint8Array(v.subarray(p, p + n));
      p += n;
    }
    if (flags & STATE_COUNTS) {
      const k = v.readUInt32BE(p);
      p += 4;
      this.counts = new Map();
      for (let j = 0; j < k; j++, p += 8) this.counts.set(v.readUInt32BE(p), v.readUInt32BE(p + 4));
    }
    if (flags & STATE_BACK) this.back = new Uint8Array(v.subarray(p, p + n));
    this.stateStored = true;
  }

  encodeState(): Buffer {
    const n = (this.count + 7) >>> 3;
    // allocUnsafe, not alloc: a Buffer.alloc this small lives in V8's heap, and LevelDB's binding
    // asking for its bytes (napi_get_buffer_info) moves it out then, an allocation that can start
    // a collection inside the batch call: during a persistent drain the acks' state batches held
    // the main thread 50-90 µs each at the median and 0.5-3.5 ms at p90. From Node's pool it is
    // off-heap from the start. Every byte is written below.
    const counts = this.counts;
    const out = Buffer.allocUnsafe(5 + (this.acked ? n : 0) + (this.redelivered ? n : 0) + (counts ? 4 + 8 * counts.size : 0) + (this.back ? n : 0));
    out[0] = (this.acked ? STATE_ACKED : 0) | (this.redelivered ? STATE_REDELIVERED : 0) | (counts ? STATE_COUNTS : 0) | (this.back ? STATE_BACK : 0);
    out.writeUInt32BE(this.count, 1);
    // set(), not a Buffer over .buffer: a bitmap this small lives in V8's heap, and asking for its
    // ArrayBuffer moves it out (JSTypedArray::GetBuffer, 1.3% of a backlog drain's main thread).
    let p = 5;
    if (this.acked) {
      out.set(this.acked, p);
      p += n;
    }
    if (this.redelivered) {
      out.set(this.redelivered, p);
      p += n;
    }
    if (counts) {
      p = out.writeUInt32BE(counts.size, p);
      for (const [i, c] of counts) {
        p = out.writeUInt32BE(i, p);
        p = out.writeUInt32BE(c, p);
      }
    }
    if (this.back) out.set(this.back, p);
    return out;
  }
}

/** Messages a queue took since its last segment was written, in the order of a batch step. */
export class Pending {
  /** Cancelled entries (acked before their batch was written) are null. */
  readonly msgs: (StoredMessage | null)[] = [];
  /** The seq of each entry, cancelled or not, to find one by. */
  private readonly seqs: number[] = [];
  /** Entries not cancelled. */
  live = 0;
  sorted = true;
  /** The queue's generation when the list was started. */
  readonly generation: number;
  /** Seqs returned in place (quorum queues) and not delivered again: their segment marks them back. */
  back: Set<number> | null = null;
  constructor(readonly log: QueueLog) {
    this.generation = log.generation;
  }

  add(m: StoredMessage): void {
    const n = this.seqs.length;
    if (n > 0 && this.seqs[n - 1]! >= m.seq) this.sorted = false;
    this.msgs.push(m);
    this.seqs.push(m.seq);
    this.live++;
  }

  /** The index of seq's entry (cancelled or not), -1 when there is none. */
  indexOf(seq: number): number {
    const ss = this.seqs;
    if (!this.sorted) return ss.indexOf(seq);
    let lo = 0;
    let hi = ss.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = ss[mid]!;
      if (s === seq) return mid;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Drops seq's message before it is written; the message it was, or null. */
  cancel(seq: number): StoredMessage | null {
    const i = this.indexOf(seq);
    const m = i < 0 ? null : this.msgs[i]!;
    if (m) {
      this.msgs[i] = null;
      this.live--;
    }
    return m;
  }

  /** Replaces seq's message (its redelivered flag changed); the one it replaced, null when it is not here. */
  replace(m: StoredMessage): StoredMessage | null {
    const i = this.indexOf(m.seq);
    const old = i < 0 ? null : (this.msgs[i] ?? null);
    if (!old) return null;
    this.msgs[i] = m;
    // A quorum queue's return in place: its segment will say so (Segment.markRedelivered).
    if ((m.deliveryCount ?? 0) > 0) (this.back ??= new Set()).add(m.seq);
    return old;
  }

  /** seq, returned in place before its write, was delivered again: false when this list does not hold it. */
  unback(seq: number): boolean {
    if (this.indexOf(seq) < 0) return false;
    this.back?.delete(seq);
    return true;
  }

  /** Cancels every message whose seq drop() accepts; returns them. */
  cancelWhere(drop: (seq: number) => boolean): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (let i = 0; i < this.msgs.length; i++) {
      const m = this.msgs[i];
      if (m && drop(m.seq)) {
        this.msgs[i] = null;
        this.live--;
        out.push(m);
      }
    }
    return out;
  }
}

/** One queue's segments and its messages still waiting for a batch. */
export class QueueLog {
  /** The segments known in this run (written in it, or read back), by first seq. */
  readonly segs: Segment[] = [];
  /** Pending lists of steps not yet written, oldest first; the last one takes new messages. */
  readonly pending: Pending[] = [];
  /** The highest seq put in this run. */
  maxSeq = 0;
  /**
   * Puts must be above this: the highest seq of the lists before the open one (written, or
   * waiting behind a range delete), so segments never overlap and sort in seq order.
   */
  floor = 0;
  /** The first seq written in this run (0 before): a segment from here on not known is gone. */
  firstWritten = 0;
  /** The store holds records of the layout before segments (one per message) for this queue. */
  legacy = false;
  /** The queue was deleted: nothing more is written for it. */
  deleted = false;
  /**
   * Bumped by every range delete: segments of lists started after one carry a higher generation,
   * so the delete, when its turn to run comes, leaves them be.
   */
  generation = 1;
  /**
   * A quorum queue's delivered mark: the highest seq delivered to a consumer that must settle it.
   * It delivers in seq order, so every message at or below the mark that is neither acked nor
   * marked back (returned in place, Segment.back) is out to a consumer: after a crash it comes back
   * counted once more (StoredMessage.checkedOut), as RabbitMQ's log returns a consumer's messages.
   * One number per queue, written with the cycle's last batch, rather than a bit per delivery.
   */
  delivered = 0;
  /** The mark changed since it was last written. */
  deliveredDirty = false;

  constructor(
    /** Key prefix of its segments ('M' 0 vhost 0 name 0), of their states ('S' …) and body files ('X' …). */
    readonly prefix: Buffer,
    readonly statePrefix: Buffer,
    readonly bodiesPrefix: Buffer,
    /** Key of its delivered mark ('D' 0 vhost 0 name 0). */
    readonly deliveredKey: Buffer | null = null,
  ) {}

  /** The known segment holding seq, or null. */
  segmentOf(seq: number): Segment | null {
    const segs = this.segs;
    // Acks mostly come for the oldest messages.
    const head = segs[0];
    if (head && seq >= head.first && seq <= head.last) return head;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = segs[mid]!;
      if (seq < s.first) hi = mid - 1;
      else if (seq > s.last) lo = mid + 1;
      else return s;
    }
    return null;
  }

  /** Adds a segment in first-seq order (at the end, nearly always). */
  insert(seg: Segment): void {
    const segs = this.segs;
    let i = segs.length;
    while (i > 0 && segs[i - 1]!.first > seg.first) i--;
    segs.splice(i, 0, seg);
  }

  remove(seg: Segment): void {
    const segs = this.segs;
    const i = segs[0] === seg ? 0 : segs.indexOf(seg);
    if (i >= 0) segs.splice(i, 1);
  }
}

/** A segment about to be written: its key, value and what the store keeps of it. */
export interface BuiltSegment {
  key: Buffer;
  value: Buffer;
  segment: Segment;
}

/** A segment's body files as a record: count(4) then each file's number(4). */
export function encodeFiles(files: number[]): Buffer {
  const out = Buffer.allocUnsafe(4 + 4 * files.length);
  out.writeUInt32BE(files.length, 0);
  for (let i = 0; i < files.length; i++) out.writeUInt32BE(files[i]!, 4 + 4 * i);
  return out;
}

export function decodeFiles(v: Buffer): number[] {
  const n = v.readUInt32BE(0);
  const files: number[] = [];
  for (let i = 0; i < n; i++) files.push(v.readUInt32BE(4 + 4 * i));
  return files;
}

/**
 * Encodes a pending list's messages (in seq order, cancelled ones left out) as segments of at most
 * SEGMENT_MAX_COUNT messages and about SEGMENT_MAX_BYTES, each with its first message's names and
 * properties as defaults. lengthOf and write are the record codec, given those defaults.
 */
/** buildSegments' record lengths, one segment's at a time: an array grown per message was 1% of a publish flood. */
const recordLengths = new Uint32Array(SEGMENT_MAX_COUNT);

export function buildSegments(
  p: Pending,
  lengthOf: (m: StoredMessage, d: RecordDefaults) => number,
  write: (out: Buffer, at: number, m: StoredMessage, d: RecordDefaults) => number,
): BuiltSegment[] {
  // A publish-only list has nothing cancelled and is in order: used as it is, not copied.
  let ms = p.live === p.msgs.length ? (p.msgs as StoredMessage[]) : p.msgs.filter((m): m is StoredMessage => m !== null);
  if (!p.sorted) ms = (ms === p.msgs ? ms.slice() : ms).sort((a, b) => a.seq - b.seq);
  const out: BuiltSegment[] = [];
  let start = 0;
  while (start < ms.length) {
    const head = ms[start]!;
    const first = head.seq;
    const d: RecordDefaults = { exchange: head.exchange, routingKey: head.routingKey, properties: head.properties };
    let end = start;
    let bytes = 5 + defaultsLength(d);
    const lengths = recordLengths;
    while (end < ms.length && end - start < SEGMENT_MAX_COUNT && (end === start || bytes < SEGMENT_MAX_BYTES)) {
      // Deltas are 32-bit: a segment never spans more than 2^32 seqs.
      if (ms[end]!.seq - first > 0xffff_ffff) break;
      const len = lengthOf(ms[end]!, d);
      lengths[end - start] = len;
      bytes += 4 + len;
      end++;
    }
    const value = Buffer.allocUnsafe(bytes);
    value[0] = SEGMENT_VERSION;
    value.writeUInt32BE(end - start, 1);
    let at = writeDefaults(value, 5, d);
    for (let i = start; i < end; i++) {
      putU32(value, at, lengths[i - start]!);
      at = write(value, at + 4, ms[i]!, d);
    }
    const last = ms[end - 1]!.seq;
    const count = end - start;
    let deltas: Uint32Array | null = null;
    if (last - first + 1 !== count) {
      deltas = new Uint32Array(count);
      for (let i = 0; i < count; i++) deltas[i] = ms[start + i]!.seq - first;
    }
    const segment = new Segment(p.log, first, last, count, deltas, p.generation);
    // Returned in place before their write (quorum queues): the segment's state records it.
    if (p.back) for (let i = start; i < end; i++) if (p.back.has(ms[i]!.seq)) segment.markBack(i - start);
    out.push({ key: segment.key, value, segment });
    start = end;
  }
  return out;
}

/** Walks the records of a segment value: record i is value[starts[i], ends[i]), read in place. */
export class SegmentView {
  readonly count: number;
  /** Offset of each record (after its length), and its end. */
  readonly starts: Uint32Array;
  readonly ends: Uint32Array;
  /** Where the defaults are (version 2), or -1 (version 1). */
  private readonly defaultsAt: number;
  private decoded: RecordDefaults | undefined;

  constructor(readonly value: Buffer) {
    const version = value[0];
    if (version !== SEGMENT_VERSION && version !== 1) throw new Error(`segment of unknown version ${version}`);
    const count = value.readUInt32BE(1);
    this.count = count;
    this.starts = new Uint32Array(count);
    this.ends = new Uint32Array(count);
    let p = 5;
    this.defaultsAt = -1;
    if (version === SEGMENT_VERSION) {
      // Skipped here, decoded once a record is (defaults()): counting and trimming never need them.
      this.defaultsAt = p;
      p = skipDefaults(value, p);
    }
    for (let i = 0; i < count; i++) {
      const len = value.readUInt32BE(p);
      this.starts[i] = p + 4;
      this.ends[i] = p + 4 + len;
      p += 4 + len;
    }
  }

  seq(i: number): number {
    return seqOf(this.value, this.starts[i]!);
  }

  /** The segment's defaults for decodeMessage (undefined in version 1), names shared through last. */
  defaults(last?: NameCache): RecordDefaults | undefined {
    if (this.defaultsAt < 0) return undefined;
    return (this.decoded ??= decodeDefaults(this.value, this.defaultsAt, last));
  }

  /** The in-memory segment for this value (deltas only when the seqs are not consecutive). */
  segment(log: QueueLog): Segment {
    const count = this.count;
    const first = this.seq(0);
    const last = this.seq(count - 1);
    let deltas: Uint32Array | null = null;
    if (last - first + 1 !== count) {
      deltas = new Uint32Array(count);
      for (let i = 0; i < count; i++) deltas[i] = this.seq(i) - first;
    }
    return new Segment(log, first, last, count, deltas);
  }
}
