// Cuts a TCP byte stream into frames (spec 2.3.5). A frame wholly inside a chunk is handed on as a
// view of that chunk; only a frame split across chunks is copied, once, into a buffer of its size.
import { AmqpError } from './errors.js';
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD, ReplyCode } from './constants.js';

export type FrameCallback = (type: number, channel: number, payload: Buffer) => void;

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

  constructor(
    frameMax: number,
    private readonly onFrame: FrameCallback,
  ) {
    this.frameMax = frameMax;
  }

  /** Throws AmqpError (501) for a frame that can never be valid; the connection then closes. */
  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    if (this.headLen > 0 || this.partial) pos = this.continuePartial(chunk);
    while (pos < len && !this.stopped) {
      if (len - pos < 7) {
        chunk.copy(this.head, 0, pos, len);
        this.headLen = len - pos;
        return;
      }
      const type = chunk[pos]!;
      const channel = chunk.readUInt16BE(pos + 1);
      const size = chunk.readUInt32BE(pos + 3);
      this.check(type, size);
      const end = pos + 7 + size;
      if (end < len) {
        if (chunk[end] !== FRAME_END) throw frameError(`invalid frame end octet 0x${chunk[end]!.toString(16)}`);
        this.onFrame(type, channel, chunk.subarray(pos + 7, end));
        pos = end + 1;
      } else {
        this.startPartial(type, channel, size);
        this.partialLen = len - pos - 7;
        chunk.copy(this.partial!, 0, pos + 7, len);
        return;
      }
    }
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
  private continuePartial(chunk: Buffer): number {
    let pos = 0;
    if (!this.partial) {
      const take = Math.min(7 - this.headLen, chunk.length);
      chunk.copy(this.head, this.headLen, 0, take);
      this.headLen += take;
      pos = take;
      if (this.headLen < 7) return pos;
      const size = this.head.readUInt32BE(3);
      const type = this.head[0]!;
      this.check(type, size);
      this.startPartial(type, this.head.readUInt16BE(1), size);
      this.partialLen = 0;
    }
    const frame = this.partial!;
    const take = Math.min(frame.length - this.partialLen, chunk.length - pos);
    chunk.copy(frame, this.partialLen, pos, pos + take);
    this.partialLen += take;
    pos += take;
    if (this.partialLen < frame.length) return pos;
    this.partial = null;
    if (frame[frame.length - 1] !== FRAME_END) {
      throw frameError(`invalid frame end octet 0x${frame[frame.length - 1]!.toString(16)}`);
    }
    this.onFrame(this.type, this.channel, frame.subarray(0, frame.length - 1));
    return pos;
  }
}
