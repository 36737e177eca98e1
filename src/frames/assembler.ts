// Assembles a channel's frames into commands (spec 4.2.6): a content-carrying method is followed by
// one content header and body frames adding up to the size the header declared.
import { AmqpError } from './errors.js';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, ReplyCode } from './constants.js';
import { decodeMethodFrame } from './method-frame.js';
import { methodInfo, type Method } from './methods.generated.js';
import { Reader, ShortStrCache } from './primitives.js';

export interface Command {
  method: Method;
  /** Property flags and list as they arrived; only present for content-carrying methods. */
  properties?: Buffer;
  body?: Buffer;
}

const unexpected = (text: string): AmqpError => new AmqpError(ReplyCode.UnexpectedFrame, text, 'connection');

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
  /** Reused for every method frame of the channel, with the names they repeat. */
  private readonly reader = new Reader(Buffer.alloc(0), 0, 0, new ShortStrCache());
  /** Reused for every content header frame. */
  private readonly headerReader = new Reader(Buffer.alloc(0), 0, 0);

  constructor(
    /** Largest body accepted; a bigger declared size is refused before any of it is buffered. */
    private readonly maxBodySize: number,
  ) {}

  /** Feeds one frame; returns the command it completes, or null while content is still due. */
  push(type: number, payload: Buffer): Command | null {
    if (type === FRAME_METHOD) {
      if (this.method) {
        throw unexpected(`expected content ${this.properties ? 'body' : 'header'} for ${methodInfo.get(this.method.id)!.name}, got a method frame`);
      }
      const r = this.reader;
      r.buf = payload;
      r.pos = 0;
      r.end = payload.length;
      const method = decodeMethodFrame(r);
      if (!methodInfo.get(method.id)!.content) return { method };
      this.method = method;
      return null;
    }
    if (type === FRAME_HEADER) {
      if (!this.method || this.properties) throw unexpected('content header frame without a preceding content method');
      const r = this.headerReader;
      r.buf = payload;
      r.pos = 0;
      r.end = payload.length;
      const classId = r.u16();
      r.u16(); // weight, unused
      const size = r.u64();
      if (classId !== methodInfo.get(this.method.id)!.classId) {
        throw unexpected(`content header for class ${classId} does not match method class`);
      }
      if (size > this.maxBodySize) {
        throw new AmqpError(
          ReplyCode.PreconditionFailed,
          `message size ${size} is larger than configured max size ${this.maxBodySize}`,
          'channel',
        );
      }
      if (payload.length < 14) throw new AmqpError(ReplyCode.SyntaxError, 'content header too short', 'connection');
      // Copied: the payload is a view of a socket chunk and the message may outlive it by far.
      this.properties = Buffer.allocUnsafe(payload.length - 12);
      payload.copy(this.properties, 0, 12);
      this.bodySize = size;
      this.received = 0;
      return size === 0 ? this.complete() : null;
    }
    if (type === FRAME_BODY) {
      if (!this.properties) throw unexpected('content body frame without a preceding content header');
      this.received += payload.length;
      if (this.received > this.bodySize) {
        throw unexpected(`content body larger than the ${this.bodySize} bytes its header declared`);
      }
      if (payload.length > 0) {
        if (!this.first) this.first = payload;
        else (this.parts ??= [this.first]).push(payload);
      }
      return this.received === this.bodySize ? this.complete() : null;
    }
    throw unexpected(`unexpected frame type ${type}`);
  }

  /** True while a content method waits for its header or body. */
  get busy(): boolean {
    return this.method !== null;
  }

  reset(): void {
    this.method = null;
    this.properties = null;
    this.first = null;
    this.parts = null;
  }

  /**
   * Whether keeping a view of a received chunk as the body would pin much more memory than the
   * body itself (a 16-byte body in a 64 KiB read): then it is copied. A body that is most of the
   * chunk it came in is kept as it is, by reference, without a copy.
   */
  private static pins(view: Buffer): boolean {
    return view.length * 2 < view.buffer.byteLength;
  }

  private complete(): Command {
    const first = this.first;
    const body = this.parts ? Buffer.concat(this.parts, this.bodySize) : !first ? Buffer.alloc(0) : CommandAssembler.pins(first) ? Buffer.from(first) : first;
    const cmd: Command = { method: this.method!, properties: this.properties!, body };
    this.reset();
    return cmd;
  }
}
