// Assembles a channel's frames into commands (spec 4.2.6): a content-carrying method is followed by
// one content header and body frames adding up to the size the header declared.
import { Buffer } from 'node:buffer';
import { AmqpError } from './errors.js';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, ReplyCode } from './constants.js';
import { decodeMethodFrame } from './method-frame.js';
import { M, methodInfo, type BasicPublish, type Method } from './methods.generated.js';
import { Reader, ShortStrCache, u32At } from './primitives.js';
import { BodyPieces, type Body } from './body.js';
import { SlabFiller } from './body-pool.js';
import { keptViews } from './kept-views.js';
import { LARGE_BODY, largeBodies } from './large-bodies.js';
import { viewOf } from './chunk-view.js';

export interface Command {
  method: Method;
  /** Property flags and list as they arrived; only present for content-carrying methods. */
  properties?: Buffer;
  /** In pieces only when large (see piecesOrJoined and body.ts). */
  body?: Body;
}

/** The properties of a body being refused (never read). */
const EMPTY = Buffer.alloc(0);
const unexpected = (text: string): AmqpError => new AmqpError(ReplyCode.UnexpectedFrame, text, 'connection');

/**
 * A body of at least this size that arrived in several pieces may be kept in them, not joined
 * (body.ts, and complete()). Smaller ones are joined: their pieces are few bytes to copy, and a
 * message in pieces costs more on every path that wants it whole.
 */
const PIECES_MIN = 32 * 1024;

/** A body at least this big is copied into pool slabs when the assembler pools (body-pool.ts). */
const POOL_MIN = 32 * 1024;

/** Bytes at or under this are copied by a loop: Buffer#copy of a range builds a Uint8Array view first. */
const LOOP_COPY_MAX = 64;

/** b[start, end) in a buffer of its own (from Node's pool, like Buffer.from). */
function copyOut(b: Buffer, start: number, end: number): Buffer {
  const n = end - start;
  const out = Buffer.allocUnsafe(n);
  if (n <= LOOP_COPY_MAX) for (let i = 0; i < n; i++) out[i] = b[start + i]!;
  else b.copy(out, 0, start, end);
  return out;
}

function isAscii(b: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i]! > 0x7f) return false;
  return true;
}

/** basic.publish's class and method ids as the frame's first four bytes: 0x003c0028. */
function isPublish(b: Buffer, start: number, end: number): boolean {
  return end - start >= 4 && b[start] === 0 && b[start + 1] === 60 && b[start + 2] === 0 && b[start + 3] === 40;
}

export class CommandAssembler {
  private method: Method | null = null;
  private properties: Buffer | null = null;
  private bodySize = 0;
  private received = 0;
  /**
   * The body's frames (or pieces of frames, see FrameParser.streamBodies), as views of the chunks
   * they came in: nearly always one, held in first; parts only once a second one comes (an array
   * per message is garbage per message). Joined, once, when the last one comes: a body buffer is
   * never allocated on the header's word alone, so memory follows what was received.
   */
  private first: Buffer | null = null;
  private parts: Buffer[] | null = null;
  /** Fills pool slabs with large bodies; null when this assembler does not pool. */
  private readonly slabs: SlabFiller | null;
  /** True while the body being received is over maxBodySize: counted, not kept, refused once whole. */
  private oversized = false;
  /** True while the body being received goes into slabs rather than being kept in its reads. */
  private pooling = false;
  /** Reused for every method frame of the channel, with the names they repeat. */
  private readonly reader = new Reader(Buffer.alloc(0), 0, 0, new ShortStrCache());
  /** Reused for every content header frame. */
  private readonly headerReader = new Reader(Buffer.alloc(0), 0, 0);
  /**
   * basic.publish as decodePublish fills it in: one object for every publish of the channel
   * (a publish is handled before the next frame is pushed; tx copies the arguments it holds).
   */
  private readonly publish: { id: typeof M.BasicPublish; args: BasicPublish } = {
    id: M.BasicPublish,
    args: { ticket: 0, exchange: '', routingKey: '', mandatory: false, immediate: false },
  };
  /** The previous publish's exchange and routing key as they came (length-prefixed), and their length (-1: none). */
  private pubNames: Buffer | null = null;
  private pubNamesView: DataView | null = null;
  private pubNamesLen = -1;
  /**
   * The previous content header's property list. A publisher nearly always sends the same one, and
   * property lists are never written to once received: a message with the same bytes shares it,
   * which saves the copy and a Buffer per message, and a Buffer less for the GC to move while
   * the message waits in a queue.
   */
  private lastProperties: Buffer | null = null;
  /** Every content command of the channel: one object, good until the next push (see push). */
  private readonly command: Command = { method: this.publish, properties: undefined, body: undefined };

  constructor(
    /** Largest body accepted; a bigger declared size is refused before any of it is buffered. */
    private readonly maxBodySize: number,
    /** Whether bodies of POOL_MIN and more go into pool slabs (body-pool.ts), to be given back. */
    pool = false,
  ) {
    this.slabs = pool ? new SlabFiller() : null;
  }

  /**
   * Feeds one frame, the payload b[start, end); returns the command it completes, or null while
   * content is still due. The command, and the payload, are only good until the next push.
   */
  push(type: number, b: Buffer, start = 0, end = b.length): Command | null {
    if (type === FRAME_METHOD) {
      if (this.method) {
        throw unexpected(`expected content ${this.properties ? 'body' : 'header'} for ${methodInfo.get(this.method.id)!.name}, got a method frame`);
      }
      if (isPublish(b, start, end) && this.decodePublish(b, start, end)) {
        this.method = this.publish;
        return null;
      }
      const r = this.reader;
      r.buf = b;
      r.pos = start;
      r.end = end;
      const method = decodeMethodFrame(r);
      if (!methodInfo.get(method.id)!.content) return { method };
      this.method = method;
      return null;
    }
    if (type === FRAME_HEADER) {
      if (!this.method || this.properties) throw unexpected('content header frame without a preceding content method');
      let classId: number;
      let size: number;
      if (end - start >= 12) {
        // By bytes: class(2) weight(2, unused) size(8).
        classId = (b[start]! << 8) | b[start + 1]!;
        size = u32At(b, start + 4) * 0x1_0000_0000 + u32At(b, start + 8);
      } else {
        // Cut short: the Reader throws the error it always has.
        const r = this.headerReader;
        r.buf = b;
        r.pos = start;
        r.end = end;
        classId = r.u16();
        r.u16();
        size = r.u64();
      }
      // basic.publish's class without a map lookup per message.
      if (classId !== (this.method === this.publish ? 60 : methodInfo.get(this.method.id)!.classId)) {
        throw unexpected(`content header for class ${classId} does not match method class`);
      }
      if (end - start < 14) throw new AmqpError(ReplyCode.SyntaxError, 'content header too short', 'connection');
      if (size > this.maxBodySize) {
        // Refused once the body has come, as RabbitMQ's channel checks max_message_size on the
        // whole message; the body is counted, not kept. (Refused at the header, amqplib reopened
        // the channel's number while the rest of the body was still queued behind the close-ok
        // in its muxer: the open landed on the closing channel, was ignored, and the connection hung.)
        this.properties = EMPTY;
        this.bodySize = size;
        this.received = 0;
        this.oversized = true;
        return null;
      }
      // Copied (or the previous one's, if the same): the payload is a view of a socket chunk and
      // the message may outlive it by far.
      this.properties = this.sameProperties(b, start + 12, end) ?? (this.lastProperties = copyOut(b, start + 12, end));
      this.bodySize = size;
      this.received = 0;
      this.pooling = size >= POOL_MIN && this.slabs !== null;
      return size === 0 ? this.complete() : null;
    }
    if (type === FRAME_BODY) {
      if (!this.properties) throw unexpected('content body frame without a preceding content header');
      const n = end - start;
      this.received += n;
      if (this.received > this.bodySize) {
        throw unexpected(`content body larger than the ${this.bodySize} bytes its header declared`);
      }
      if (this.oversized) {
        if (this.received < this.bodySize) return null;
        this.reset();
        throw new AmqpError(ReplyCode.PreconditionFailed, `message size ${this.bodySize} is larger than configured max size ${this.maxBodySize}`, 'channel');
      }
      if (this.pooling) {
        if (this.bodySize >= LARGE_BODY) largeBodies.bytes += n;
        this.slabs!.add(b, start, end);
        return this.received === this.bodySize ? this.complete(this.slabs!.finish(this.bodySize)) : null;
      }
      if (n > 0) {
        if (!this.first && this.received === this.bodySize) {
          // The whole body in one frame (nearly always): copied straight out of the chunk when
          // small, with no view of it made first. The chunk's own length decides first: reading
          // .buffer is a runtime call (~30 ns a publish), and a chunk is at most its buffer.
          if (n * 2 < b.length || n * 2 < b.buffer.byteLength) return this.complete(copyOut(b, start, end));
          keptViews.count++;
          return this.complete(b.subarray(start, end));
        }
        keptViews.count++;
        const piece = b.subarray(start, end);
        if (!this.first) this.first = piece;
        else (this.parts ??= [this.first]).push(piece);
      }
      return this.received === this.bodySize ? this.complete() : null;
    }
    throw unexpected(`unexpected frame type ${type}`);
  }

  /**
   * A whole small publish at once (FrameParser's onPublish): the method's payload b[m0, m1), the
   * content header's b[h0, h1) and the one body frame's b[b0, b1). Returns the property list, the
   * arguments being in publishArgs and the body for publishBody(); null (nothing changed but the
   * names remembered) when anything is not the plain case, which push() then takes frame by frame,
   * with every error where it always was. (Not a Command: storing a new message's buffers into a
   * long-lived object costs a write barrier each.)
   */
  publishFrames(b: Buffer, m0: number, m1: number, h0: number, h1: number, b0: number, b1: number): Buffer | null {
    if (this.method !== null || h1 - h0 < 14 || b[h0] !== 0 || b[h0 + 1] !== 60) return null;
    const n = b1 - b0;
    // The declared size, as 64 bits: the body frame's length, and nothing the slow path would pool or keep as a view.
    if (u32At(b, h0 + 4) !== 0 || u32At(b, h0 + 8) !== n || n === 0 || n > this.maxBodySize) return null;
    if ((this.slabs !== null && n >= POOL_MIN) || !(n * 2 < b.length || n * 2 < b.buffer.byteLength)) return null;
    if (!this.decodePublish(b, m0, m1)) return null;
    return this.sameProperties(b, h0 + 12, h1) ?? (this.lastProperties = copyOut(b, h0 + 12, h1));
  }

  /** The arguments of the publish publishFrames took (good until the next publish). */
  get publishArgs(): BasicPublish {
    return this.publish.args;
  }

  /** The body of the publish publishFrames took: b[b0, b1) in a buffer of its own, as push() would copy it. */
  publishBody(b: Buffer, b0: number, b1: number): Buffer {
    return copyOut(b, b0, b1);
  }

  /**
   * basic.publish decoded in place, without a Reader or a Method object: a publisher sends the
   * same exchange and routing key again and again, so their bytes are compared with the previous
   * publish's and its strings reused. False for what it leaves to the generic decoder (a frame
   * cut short, names that are not ASCII), which then answers exactly as before.
   */
  private decodePublish(b: Buffer, start: number, end: number): boolean {
    // class(2) method(2) ticket(2) exchange(1+n) routing-key(1+n) bits(1)
    const exAt = start + 6;
    if (exAt >= end) return false;
    const exLen = b[exAt]!;
    const rkAt = exAt + 1 + exLen;
    if (rkAt >= end) return false;
    const bitsAt = rkAt + 1 + b[rkAt]!;
    if (bitsAt >= end) return false;
    const n = bitsAt - exAt;
    const args = this.publish.args;
    if (n !== this.pubNamesLen || !this.sameNames(b, exAt, n)) {
      if (!isAscii(b, exAt + 1, bitsAt)) return false; // the length octet between them is < 0x80 too, or the generic path decides
      args.exchange = exLen === 0 ? '' : b.toString('latin1', exAt + 1, rkAt);
      args.routingKey = bitsAt === rkAt + 1 ? '' : b.toString('latin1', rkAt + 1, bitsAt);
      let prev = this.pubNames;
      if (!prev || prev.length < n) {
        prev = this.pubNames = Buffer.allocUnsafe(Math.max(64, n));
        this.pubNamesView = new DataView(prev.buffer, prev.byteOffset, prev.length);
      }
      for (let i = 0; i < n; i++) prev[i] = b[exAt + i]!;
      this.pubNamesLen = n;
    }
    args.ticket = (b[start + 4]! << 8) | b[start + 5]!;
    const bits = b[bitsAt]!;
    args.mandatory = (bits & 1) !== 0;
    args.immediate = (bits & 2) !== 0;
    return true;
  }

  /**
   * Whether b[at, at+n) holds the previous publish's names: four bytes a compare, through
   * DataViews, from a chunk's second publish on (chunk-view.ts); byte by byte otherwise.
   */
  private sameNames(b: Buffer, at: number, n: number): boolean {
    const cur = viewOf(b);
    let i = 0;
    if (cur) {
      const prev = this.pubNamesView!;
      for (; i + 4 <= n; i += 4) if (prev.getUint32(i) !== cur.getUint32(at + i)) return false;
    }
    const prev = this.pubNames!;
    for (; i < n; i++) if (prev[i] !== b[at + i]) return false;
    return true;
  }

  /** The previous property list if b[start, end) holds the same bytes (lists of up to 256 bytes). */
  private sameProperties(b: Buffer, start: number, end: number): Buffer | null {
    const last = this.lastProperties;
    const n = end - start;
    if (!last || last.length !== n || n > 256) return null;
    for (let i = 0; i < n; i++) if (last[i] !== b[start + i]) return null;
    return last;
  }

  /** True while a content method waits for its header or body. */
  get busy(): boolean {
    return this.method !== null;
  }

  reset(): void {
    if (this.pooling) {
      this.slabs!.abandon(); // a no-op after finish()
      this.pooling = false;
    }
    this.method = null;
    this.properties = null;
    this.first = null;
    this.parts = null;
    this.oversized = false;
  }

  /**
   * Whether keeping a view of a received chunk as the body would pin much more memory than the
   * body itself (a 16-byte body in a 64 KiB read): then it is copied. A body that is most of the
   * chunk it came in is kept as it is, by reference, without a copy.
   */
  private static pins(view: Buffer): boolean {
    return view.length * 2 < view.buffer.byteLength;
  }

  /**
   * A body that came in several pieces: kept in them when the socket reads they are views of hold
   * at most twice its bytes (the bound pins() sets for a body in one piece), else joined into a
   * buffer of its own. Keeping 64 KiB bodies in their two reads rather than joining them halves
   * the memory allocated outside V8's heap per message, and every 64 MiB of that starts a full
   * collection (README, "Large messages", "Bodies in pieces from 32 KiB": ~15-20% less broker
   * CPU per 64 KiB message). Pieces come in read order, so the reads they share are consecutive.
   */
  private piecesOrJoined(parts: Buffer[]): Body {
    const size = this.bodySize;
    if (size >= PIECES_MIN) {
      let pinned = 0;
      let last: ArrayBufferLike | null = null;
      for (const p of parts) {
        if (p.buffer === last) continue;
        last = p.buffer;
        pinned += last.byteLength;
      }
      if (pinned <= 2 * size) return new BodyPieces(parts, size);
    }
    return Buffer.concat(parts, size);
  }

  private complete(whole?: Body): Command {
    const first = this.first;
    const body =
      whole ??
      (this.parts
        ? this.piecesOrJoined(this.parts)
        : !first ? Buffer.alloc(0) : CommandAssembler.pins(first) ? copyOut(first, 0, first.length) : first);
    const cmd = this.command;
    cmd.method = this.method!;
    cmd.properties = this.properties!;
    cmd.body = body;
    this.reset();
    return cmd;
  }
}
