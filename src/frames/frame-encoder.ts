// Writes whole frames into a Writer: method frames, content headers, body frames and heartbeats.
import { Buffer } from 'node:buffer';
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD } from './constants.js';
import { encodeMethod, type MethodInit } from './methods.generated.js';
import { Writer, copyInto, putU32 } from './primitives.js';

const BASIC_CLASS = 60;
const BASIC_DELIVER = 0x003c003c;

export function writeMethodFrame(w: Writer, channel: number, m: MethodInit): void {
  const start = w.reserve(0);
  try {
    w.u8(FRAME_METHOD);
    w.u16(channel);
    const mark = w.reserve(4);
    encodeMethod(w, m);
    w.patchU32(mark, w.since(mark) - 4);
    w.u8(FRAME_END);
  } catch (e) {
    // Never leave half a frame behind: the stream would be corrupt for everything after it.
    w.rewind(start);
    throw e;
  }
}

/**
 * basic.deliver written field by field: the one method sent per message delivered, so it skips the
 * generic encoder and the argument object it needs. Same bytes as writeMethodFrame.
 */
export function writeDeliverFrame(
  w: Writer,
  channel: number,
  consumerTag: string,
  deliveryTag: number,
  redelivered: boolean,
  exchange: string,
  routingKey: string,
): void {
  w.u8(FRAME_METHOD);
  w.u16(channel);
  const mark = w.reserve(4);
  w.u32(BASIC_DELIVER);
  w.shortstr(consumerTag);
  w.u64(deliveryTag);
  w.u8(redelivered ? 1 : 0);
  w.shortstr(exchange);
  w.shortstr(routingKey);
  w.patchU32(mark, w.since(mark) - 4);
  w.u8(FRAME_END);
}

/** Where DeliverFrame builds its frames (one at a time: the event loop has no other thread). */
const SCRATCH = new Writer(4096, 4096);

/** Where the delivery tag sits in a basic.deliver frame: after the frame header (7), class and method (4) and the tag's shortstr. */
const TAG_AFTER = 7 + 4;

/**
 * The basic.deliver frames of one consumer: its channel and tag never change, and the exchange and
 * routing key of one message are mostly those of the one before, so the whole frame is kept and
 * each delivery copies it and writes its delivery tag and redelivered flag in place. One copy
 * instead of three encoded names, a frame size and eight small writes, each checking for room.
 */
export class DeliverFrame {
  private bytes: Buffer | null = null;
  private exchange = '';
  private routingKey = '';
  private readonly tagAt: number;

  constructor(
    readonly channel: number,
    readonly consumerTag: string,
  ) {
    this.tagAt = TAG_AFTER + 1 + Buffer.byteLength(consumerTag);
  }

  write(w: Writer, deliveryTag: number, redelivered: boolean, exchange: string, routingKey: string): void {
    let b = this.bytes;
    if (b === null || exchange !== this.exchange || routingKey !== this.routingKey) b = this.build(exchange, routingKey);
    const n = b.length;
    w.ensure(n);
    const out = w.buf;
    const p = w.pos;
    copyInto(b, out, p);
    const at = p + this.tagAt;
    putU32(out, at, Math.floor(deliveryTag / 0x1_0000_0000) >>> 0);
    putU32(out, at + 4, deliveryTag >>> 0);
    out[at + 8] = redelivered ? 1 : 0;
    w.pos = p + n;
  }

  private build(exchange: string, routingKey: string): Buffer {
    // Encoded by the field-by-field writer, so a name over 255 bytes throws here as it did there,
    // before anything is written to the connection's buffer. A topic consumer whose routing keys
    // vary rebuilds on every delivery: one shared scratch writer, so each costs one small Buffer.
    const w = SCRATCH;
    const start = w.reserve(0);
    try {
      writeDeliverFrame(w, this.channel, this.consumerTag, 0, false, exchange, routingKey);
    } catch (e) {
      w.rewind(start);
      throw e;
    }
    const b = Buffer.from(w.take());
    this.bytes = b;
    this.exchange = exchange;
    this.routingKey = routingKey;
    return b;
  }
}

/** A content header carrying properties already in wire form (flags + list), as they arrived. */
export function writeHeaderFrame(w: Writer, channel: number, bodySize: number, rawProperties: Buffer): void {
  w.u8(FRAME_HEADER);
  w.u16(channel);
  w.u32(12 + rawProperties.length);
  w.u16(BASIC_CLASS);
  w.u16(0);
  w.u64(bodySize);
  w.bytes(rawProperties);
  w.u8(FRAME_END);
}

/**
 * The content header and the one body frame of a small body (at most a frame's payload), written
 * with one check for room: the path of most messages delivered.
 */
export function writeSmallContent(w: Writer, channel: number, rawProperties: Buffer, body: Buffer): void {
  const pn = rawProperties.length;
  const bn = body.length;
  w.ensure(20 + pn + (bn === 0 ? 0 : 8 + bn));
  const out = w.buf;
  let p = w.pos;
  out[p] = FRAME_HEADER;
  out[p + 1] = channel >>> 8;
  out[p + 2] = channel;
  putU32(out, p + 3, 12 + pn);
  out[p + 7] = 0;
  out[p + 8] = BASIC_CLASS;
  out[p + 9] = 0;
  out[p + 10] = 0;
  putU32(out, p + 11, 0);
  putU32(out, p + 15, bn);
  p = copyInto(rawProperties, out, p + 19);
  out[p++] = FRAME_END;
  if (bn !== 0) {
    out[p] = FRAME_BODY;
    out[p + 1] = channel >>> 8;
    out[p + 2] = channel;
    putU32(out, p + 3, bn);
    p = copyInto(body, out, p + 7);
    out[p++] = FRAME_END;
  }
  w.pos = p;
}

/** Writes the frame header of a body frame; the caller writes size bytes of body and then FRAME_END. */
export function writeBodyFrameStart(w: Writer, channel: number, size: number): void {
  w.u8(FRAME_BODY);
  w.u16(channel);
  w.u32(size);
}

/** Body frames for body, each at most frameMax bytes long in all. */
export function writeBodyFrames(w: Writer, channel: number, body: Buffer, frameMax: number): void {
  const max = frameMax - FRAME_OVERHEAD;
  for (let off = 0; off < body.length; off += max) {
    const part = body.subarray(off, Math.min(off + max, body.length));
    writeBodyFrameStart(w, channel, part.length);
    w.bytes(part);
    w.u8(FRAME_END);
  }
}

export function writeHeartbeat(w: Writer): void {
  w.u8(FRAME_HEARTBEAT);
  w.u16(0);
  w.u32(0);
  w.u8(FRAME_END);
}
