// Readers and writers of AMQP's primitive types over a Buffer, bounds-checked so that no length
// read off the wire can make us read past the frame or allocate from it.
import { isUtf8, Buffer } from 'node:buffer';
import { AmqpError, TruncatedError } from './errors.js';
import { ReplyCode } from './constants.js';

const syntax = (what: string): TruncatedError =>
  new TruncatedError(ReplyCode.SyntaxError, `malformed frame: ${what} runs past the end of the frame`, 'connection');

/** Names are nearly always ASCII: a byte loop settles those without a Buffer view. */
function isAscii(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i]! > 0x7f) return false;
  return true;
}

/**
 * Writes s at buf[pos] when it is ASCII (names nearly always are) and returns its length, or -1
 * having written part of it. A byte loop: for short strings it costs less than Buffer#write's
 * native call, and every delivery and stored message writes two or three such names.
 */
export function writeAscii(buf: Buffer, pos: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    buf[pos + i] = c;
  }
  return n;
}

/**
 * The short strings a channel's method frames repeat (a publisher sends the same exchange and
 * routing key a million times): each decoded once and handed out again while its bytes match.
 * The same string object each time also keeps its hash, computed once, for the routing lookups.
 */
export class ShortStrCache {
  private static readonly SLOTS = 8;
  private static readonly MAX = 64;
  /** Each slot's bytes (a copy: method frames are views of socket chunks), its length and string. */
  private readonly bytes: (Buffer | null)[] = new Array<Buffer | null>(ShortStrCache.SLOTS).fill(null);
  private readonly lens = new Int32Array(ShortStrCache.SLOTS).fill(-1);
  private readonly strs: string[] = new Array<string>(ShortStrCache.SLOTS).fill('');

  private static slot(b: Buffer, start: number, len: number): number {
    return (len * 31 + b[start]! * 7 + b[start + len - 1]!) & (ShortStrCache.SLOTS - 1);
  }

  /** The string of b[start, start+len) if it is cached; undefined otherwise. */
  get(b: Buffer, start: number, len: number): string | undefined {
    if (len === 0 || len > ShortStrCache.MAX) return undefined;
    const i = ShortStrCache.slot(b, start, len);
    if (this.lens[i] !== len) return undefined;
    const c = this.bytes[i]!;
    for (let k = 0; k < len; k++) if (c[k] !== b[start + k]) return undefined;
    return this.strs[i];
  }

  /** Remembers s as the string of b[start, start+len): a byte copy, no allocation (names that never repeat cost little). */
  set(b: Buffer, start: number, len: number, s: string): void {
    if (len === 0 || len > ShortStrCache.MAX) return;
    const i = ShortStrCache.slot(b, start, len);
    const c = (this.bytes[i] ??= Buffer.alloc(ShortStrCache.MAX));
    for (let k = 0; k < len; k++) c[k] = b[start + k]!;
    this.lens[i] = len;
    this.strs[i] = s;
  }
}

/**
 * Copies src to out at p, returning the position after it. Property lists and small bodies by a
 * loop: Buffer#copy's argument checks, the view it makes and its native call cost more than a few
 * dozen bytes do; larger ones by TypedArray#set (one builtin, no view).
 */
export function copyInto(src: Buffer, out: Buffer, p: number): number {
  const n = src.length;
  if (n > 64) {
    out.set(src, p);
    return p + n;
  }
  for (let i = 0; i < n; i++) out[p + i] = src[i]!;
  return p + n;
}

/** Writes v (0 ≤ v < 2^32) big-endian at p, by bytes; the caller has made the room. */
export function putU32(out: Buffer, p: number, v: number): void {
  out[p] = v >>> 24;
  out[p + 1] = v >>> 16;
  out[p + 2] = v >>> 8;
  out[p + 3] = v;
}

/**
 * The u32 big-endian at p, by bytes, for the per-frame paths: Buffer#readUInt32BE validates its
 * offset on every call. The caller has checked that the four bytes are there.
 */
export function u32At(b: Buffer, p: number): number {
  return b[p]! * 0x100_0000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

/** A cursor over buf[pos, end); every read checks the remaining length first. */
export class Reader {
  constructor(
    public buf: Buffer,
    public pos: number,
    public end: number,
    /** Short strings seen before, for a long-lived reader (a channel's): see ShortStrCache. */
    readonly names: ShortStrCache | null = null,
  ) {}

  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw syntax(what);
  }
  u8(): number {
    this.need(1, 'octet');
    return this.buf[this.pos++]!;
  }
  i8(): number {
    this.need(1, 'octet');
    return this.buf.readInt8(this.pos++);
  }
  // The integers by bytes: Buffer#read*/write* validate their arguments on every call, and these
  // run several times per message (deliveries, acks); need() and ensure() have checked the room.
  u16(): number {
    this.need(2, 'short');
    const b = this.buf;
    const v = (b[this.pos]! << 8) | b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  i16(): number {
    this.need(2, 'short');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4, 'long');
    const v = u32At(this.buf, this.pos);
    this.pos += 4;
    return v;
  }
  i32(): number {
    this.need(4, 'long');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** longlong as a number: delivery tags and sizes stay far below 2^53 in practice. */
  u64(): number {
    this.need(8, 'longlong');
    const v = u32At(this.buf, this.pos) * 0x1_0000_0000 + u32At(this.buf, this.pos + 4);
    this.pos += 8;
    return v;
  }
  u64big(): bigint {
    this.need(8, 'longlong');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  i64big(): bigint {
    this.need(8, 'longlong');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  f32(): number {
    this.need(4, 'float');
    const v = this.buf.readFloatBE(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8, 'double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }
  shortstr(): string {
    const len = this.u8();
    this.need(len, 'short string');
    const cached = this.names?.get(this.buf, this.pos, len);
    if (cached !== undefined) {
      this.pos += len;
      return cached;
    }
    // Names must survive the round trip: bytes that are not UTF-8 would come back altered (and
    // longer than 255 bytes), so they are refused rather than silently rewritten.
    if (len > 0 && !isAscii(this.buf, this.pos, this.pos + len) && !isUtf8(this.buf.subarray(this.pos, this.pos + len))) {
      throw new AmqpError(ReplyCode.SyntaxError, 'short string is not valid UTF-8', 'connection');
    }
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.names?.set(this.buf, this.pos, len, s);
    this.pos += len;
    return s;
  }
  /** A view into the frame, not a copy: callers that keep it past the frame must copy. */
  longstr(): Buffer {
    const len = this.u32();
    this.need(len, 'long string');
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }
  bytes(len: number): Buffer {
    this.need(len, 'bytes');
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }
}

/**
 * An append-only byte sink that grows on demand. Regions already handed out by take() are never
 * written again, so the socket may hold them while we keep appending behind them.
 */
export class Writer {
  buf: Buffer;
  pos = 0;
  private start = 0;

  /**
   * chunkSize: the buffer size once busy. initialSize (smaller) starts it small: a small buffer
   * that fills is replaced by one of its own size, unless what is pending (not yet taken) is more
   * than half of it, which moves it up to chunkSize. An idle AMQP connection then keeps a slice of
   * Node's shared pool, not 64 KiB of its own.
   */
  constructor(
    private readonly chunkSize = 64 * 1024,
    initialSize = chunkSize,
  ) {
    this.buf = Buffer.allocUnsafe(Math.min(initialSize, chunkSize));
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    // Move the unflushed tail into a fresh buffer big enough for it and n more bytes.
    const pending = this.pos - this.start;
    // A small buffer stays small while what is pending fits half of one; else chunkSize or more.
    const size = this.buf.length;
    const next = Buffer.allocUnsafe(size < this.chunkSize && (pending + n) * 2 <= size ? size : Math.max(this.chunkSize, (pending + n) * 2));
    this.buf.copy(next, 0, this.start, this.pos);
    this.buf = next;
    this.start = 0;
    this.pos = pending;
  }
  get length(): number {
    return this.pos - this.start;
  }
  /** Hands out everything written since the last take(), as a view. */
  take(): Buffer {
    const out = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    if (this.buf.length - this.pos < 512) {
      this.buf = Buffer.allocUnsafe(Math.min(this.buf.length, this.chunkSize));
      this.start = this.pos = 0;
    }
    return out;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }
  i8(v: number): void {
    this.ensure(1);
    this.buf.writeInt8(v, this.pos++);
  }
  u16(v: number): void {
    // Refused out of range, as Buffer#writeUInt16BE refuses it (a frame is never half written).
    if (v > 0xffff || v < 0) throw new RangeError(`short out of range: ${v}`);
    this.ensure(2);
    const b = this.buf;
    b[this.pos] = v >>> 8;
    b[this.pos + 1] = v;
    this.pos += 2;
  }
  i16(v: number): void {
    this.ensure(2);
    this.buf.writeInt16BE(v, this.pos);
    this.pos += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    putU32(this.buf, this.pos, v >>> 0);
    this.pos += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }
  u64(v: number): void {
    this.ensure(8);
    putU32(this.buf, this.pos, Math.floor(v / 0x1_0000_0000) >>> 0);
    putU32(this.buf, this.pos + 4, v >>> 0);
    this.pos += 8;
  }
  u64big(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }
  i64big(v: bigint): void {
    this.ensure(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatBE(v, this.pos);
    this.pos += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }
  shortstr(s: string): void {
    const max = s.length * 3;
    this.ensure(1 + max);
    let n = s.length <= 255 ? writeAscii(this.buf, this.pos + 1, s) : -1;
    if (n < 0) n = this.buf.write(s, this.pos + 1, 'utf8');
    if (n > 255) throw new RangeError(`short string longer than 255 bytes: ${s.slice(0, 40)}…`);
    this.buf[this.pos] = n;
    this.pos += 1 + n;
  }
  longstr(v: Buffer | string): void {
    if (typeof v === 'string') {
      this.ensure(4 + v.length * 3);
      const n = this.buf.write(v, this.pos + 4, 'utf8');
      this.buf.writeUInt32BE(n, this.pos);
      this.pos += 4 + n;
    } else {
      this.u32(v.length);
      this.bytes(v);
    }
  }
  bytes(b: Buffer): void {
    this.ensure(b.length);
    this.pos = copyInto(b, this.buf, this.pos);
  }

  /** Reserves n bytes to be patched later (sizes known only after writing what follows). Returns a
   * mark relative to the unflushed region, which stays valid when ensure() moves that region. */
  reserve(n: number): number {
    this.ensure(n);
    const mark = this.pos - this.start;
    this.pos += n;
    return mark;
  }
  /** Bytes written since the mark's position. */
  since(mark: number): number {
    return this.pos - this.start - mark;
  }
  /** Drops everything written after the mark. */
  rewind(mark: number): void {
    this.pos = this.start + mark;
  }
  patchU32(mark: number, v: number): void {
    putU32(this.buf, this.start + mark, v >>> 0);
  }
  patchU16(mark: number, v: number): void {
    this.buf.writeUInt16BE(v, this.start + mark);
  }
}
