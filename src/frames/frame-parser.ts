// Cuts a TCP byte stream into frames (spec 2.3.5). A frame wholly inside a chunk is handed on as a
// view of that chunk; only a frame split across chunks is copied, once, into a buffer of its size.
// With streamBodies, a body frame split across chunks is not copied at all: its payload is handed
// on in pieces, each a view of the chunk it came in (the assembler copies them once, straight into
// the message's body). A large body then costs one copy and one allocation on its way in, instead
// of a frame buffer per frame (each copied twice) and the body they are joined into.
import { Buffer } from 'node:buffer';
import { AmqpError } from './errors.js';
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD, ReplyCode } from './constants.js';
import { u32At } from './primitives.js';
import { keptViews } from './kept-views.js';
import { parsing } from './chunk-view.js';

/**
 * A frame's payload is buf[start, end). Without FrameParser.ranges, buf is a view of just the
 * payload (start 0, end its length).
 */
export type FrameCallback = (type: number, channel: number, buf: Buffer, start: number, end: number) => void;

/**
 * A basic.publish whose three frames (method, content header, one body frame) are all whole in
 * the chunk, on one channel: their payloads are b[m0, m1), b[h0, h1) and b[b0, b1). Returns
 * whether it took them; false hands them on one by one as ever (nothing was changed).
 */
export type PublishCallback = (channel: number, b: Buffer, m0: number, m1: number, h0: number, h1: number, b0: number, b1: number) => boolean;

const frameError = (text: string): AmqpError => new AmqpError(ReplyCode.FrameError, text, 'connection');

export class FrameParser {
  /** Largest whole frame accepted, header and frame-end included (the negotiated frame_max). */
  frameMax: number;
  /** Set to stop emitting frames from the rest of the current chunk (the connection is closing). */
  stopped = false;

  // A frame split across chunks: its 7 header bytes, then its payload and frame-end byte.
  // From Node's shared pool: a buffer of its own per connection costs an ArrayBuffer and a malloc.
  private head = Buffer.allocUnsafe(7);
  private headLen = 0;
  private partial: Buffer | null = null;
  private partialLen = 0;
  private type = 0;
  private channel = 0;
  /**
   * A body frame being streamed (streamBodies): payload bytes still due (-1: none is), and its
   * last piece, held back until the frame-end octet after it is seen to be right.
   */
  private bodyLeft = -1;
  private held: Buffer | null = null;

  constructor(
    frameMax: number,
    private readonly onFrame: FrameCallback,
    /** Hand on body frames split across chunks in pieces (see the top of this file). */
    private readonly streamBodies = false,
    /**
     * Hand on a frame wholly inside a chunk as the chunk and the payload's range, not as a view:
     * a view is an object per frame, three per message, for a payload nearly always consumed
     * before the callback returns (the receiver makes a view only of what it keeps).
     */
    private readonly ranges = false,
    /**
     * Takes a publish's three frames in one call (ranges mode only): a small message is three
     * frames, and passing each through the connection, the channel and the assembler's state
     * machine was about a tenth of a publish flood's main thread.
     */
    private readonly onPublish: PublishCallback | null = null,
  ) {
    this.frameMax = frameMax;
  }

  /**
   * Parses chunk[0, len) (a read into a buffer of the reader's own fills only its front). Throws
   * AmqpError (501) for a frame that can never be valid; the connection then closes.
   */
  push(chunk: Buffer, len = chunk.length): void {
    const outer = parsing.chunk;
    const outerView = parsing.view;
    const outerAsked = parsing.asked;
    parsing.chunk = chunk;
    parsing.view = null;
    parsing.asked = false;
    try {
      this.parse(chunk, len);
    } finally {
      parsing.chunk = outer;
      parsing.view = outerView;
      parsing.asked = outerAsked;
    }
  }

  private parse(chunk: Buffer, len: number): void {
    let pos = 0;
    if (this.bodyLeft >= 0) pos = this.continueBody(chunk, 0, len);
    else if (this.headLen > 0 || this.partial) pos = this.continuePartial(chunk, len);
    while (pos < len && !this.stopped) {
      if (len - pos < 7) {
        chunk.copy(this.head, 0, pos, len);
        this.headLen = len - pos;
        return;
      }
      const type = chunk[pos]!;
      // By bytes: Buffer#readUInt*BE validate the offset on every call (len - pos ≥ 7 here).
      const channel = (chunk[pos + 1]! << 8) | chunk[pos + 2]!;
      const size = u32At(chunk, pos + 3);
      this.check(type, size);
      const end = pos + 7 + size;
      if (end < len) {
        if (chunk[end] !== FRAME_END) throw frameError(`invalid frame end octet 0x${chunk[end]!.toString(16)}`);
        if (type === FRAME_METHOD && this.onPublish !== null && size >= 4 && chunk[pos + 8] === 60 && chunk[pos + 10] === 40 && chunk[pos + 7] === 0 && chunk[pos + 9] === 0) {
          const next = this.publishFrames(chunk, len, channel, pos + 7, end);
          if (next > 0) {
            pos = next;
            continue;
          }
        }
        if (this.ranges) this.onFrame(type, channel, chunk, pos + 7, end);
        else {
          keptViews.count++; // a view the receiver may keep (the ranges mode counts in the assembler)
          this.onFrame(type, channel, chunk.subarray(pos + 7, end), 0, size);
        }
        pos = end + 1;
      } else if (type === FRAME_BODY && this.streamBodies) {
        this.channel = channel;
        this.bodyLeft = size;
        this.continueBody(chunk, pos + 7, len);
        return;
      } else {
        this.startPartial(type, channel, size);
        this.partialLen = len - pos - 7;
        chunk.copy(this.partial!, 0, pos + 7, len);
        return;
      }
    }
  }

  /**
   * The content header and body frame after a basic.publish whose payload is chunk[m0, m1), when
   * both are whole in the chunk, valid as frames, on its channel, and the body is one frame of the
   * size the header declares: handed to onPublish with it. Returns where parsing resumes, or 0
   * when they go frame by frame (then every error is found where it always was).
   */
  private publishFrames(chunk: Buffer, len: number, channel: number, m0: number, m1: number): number {
    const h = m1 + 1;
    if (h + 7 > len || chunk[h] !== FRAME_HEADER || ((chunk[h + 1]! << 8) | chunk[h + 2]!) !== channel) return 0;
    const hSize = u32At(chunk, h + 3);
    const hEnd = h + 7 + hSize;
    if (hSize + FRAME_OVERHEAD > this.frameMax || hEnd >= len || chunk[hEnd] !== FRAME_END) return 0;
    const b = hEnd + 1;
    if (b + 7 > len || chunk[b] !== FRAME_BODY || ((chunk[b + 1]! << 8) | chunk[b + 2]!) !== channel) return 0;
    const bSize = u32At(chunk, b + 3);
    const bEnd = b + 7 + bSize;
    if (bSize + FRAME_OVERHEAD > this.frameMax || bEnd >= len || chunk[bEnd] !== FRAME_END) return 0;
    return this.onPublish!(channel, chunk, m0, m1, h + 7, hEnd, b + 7, bEnd) ? bEnd + 1 : 0;
  }

  private check(type: number, size: number): void {
    if (type !== FRAME_METHOD && type !== FRAME_HEADER && type !== FRAME_BODY && type !== FRAME_HEARTBEAT) {
      throw frameError(`unknown frame type ${type}`);
    }
    if (size + FRAME_OVERHEAD > this.frameMax) {
      throw frameError(`frame size ${size + FRAME_OVERHEAD} larger than negotiated frame_max ${this.frameMax}`);
    }
  }

  private startPartial(type: number, channel: number, size: number): void {
    this.type = type;
    this.channel = channel;
    this.partial = Buffer.allocUnsafe(size + 1);
    this.headLen = 0;
  }

  /** Completes the split header and/or frame from the front of chunk; returns where parsing resumes. */
  private continuePartial(chunk: Buffer, len: number): number {
    let pos = 0;
    if (!this.partial) {
      const take = Math.min(7 - this.headLen, len);
      chunk.copy(this.head, this.headLen, 0, take);
      this.headLen += take;
      pos = take;
      if (this.headLen < 7) return pos;
      const size = this.head.readUInt32BE(3);
      const type = this.head[0]!;
      this.check(type, size);
      if (type === FRAME_BODY && this.streamBodies) {
        this.headLen = 0;
        this.channel = this.head.readUInt16BE(1);
        this.bodyLeft = size;
        return this.continueBody(chunk, pos, len);
      }
      this.startPartial(type, this.head.readUInt16BE(1), size);
      this.partialLen = 0;
    }
    const frame = this.partial!;
    const take = Math.min(frame.length - this.partialLen, len - pos);
    chunk.copy(frame, this.partialLen, pos, pos + take);
    this.partialLen += take;
    pos += take;
    if (this.partialLen < frame.length) return pos;
    this.partial = null;
    if (frame[frame.length - 1] !== FRAME_END) {
      throw frameError(`invalid frame end octet 0x${frame[frame.length - 1]!.toString(16)}`);
    }
    if (this.ranges) this.onFrame(this.type, this.channel, frame, 0, frame.length - 1);
    else this.onFrame(this.type, this.channel, frame.subarray(0, frame.length - 1), 0, frame.length - 1);
    return pos;
  }

  /**
   * Takes the streamed body frame's payload (and then its frame-end octet) from chunk at pos; each
   * piece goes on as a view of chunk. Returns where parsing resumes.
   */
  private continueBody(chunk: Buffer, pos: number, len: number): number {
    if (this.bodyLeft > 0) {
      const take = Math.min(this.bodyLeft, len - pos);
      const piece = chunk.subarray(pos, pos + take);
      this.bodyLeft -= take;
      pos += take;
      // The piece that completes the payload may complete the message: it waits for the frame end.
      if (this.bodyLeft > 0) {
        if (take > 0) this.onFrame(FRAME_BODY, this.channel, piece, 0, take);
        return pos;
      }
      this.held = piece;
    }
    if (pos >= len) {
      if (this.held) keptViews.count++; // held past this push: its frame end is in the next chunk
      return pos;
    }
    if (chunk[pos] !== FRAME_END) throw frameError(`invalid frame end octet 0x${chunk[pos]!.toString(16)}`);
    const last = this.held ?? chunk.subarray(pos, pos); // a frame of an empty payload holds nothing
    this.held = null;
    this.bodyLeft = -1;
    this.onFrame(FRAME_BODY, this.channel, last, 0, last.length);
    return pos + 1;
  }
}
