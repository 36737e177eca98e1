// Writes whole frames into a Writer: method frames, content headers, body frames and heartbeats.
import { FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_OVERHEAD } from './constants.js';
import { encodeMethod, type MethodInit } from './methods.generated.js';
import type { Writer } from './primitives.js';

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
  w.shortstrIn(0, consumerTag);
  w.u64(deliveryTag);
  w.u8(redelivered ? 1 : 0);
  w.shortstrIn(1, exchange);
  w.shortstrIn(2, routingKey);
  w.patchU32(mark, w.since(mark) - 4);
  w.u8(FRAME_END);
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
