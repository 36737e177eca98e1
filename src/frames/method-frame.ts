// Decoding a whole method frame, with RabbitMQ's answer to one too short for its own arguments.
import { ReplyCode } from './constants.js';
import { AmqpError, TruncatedError } from './errors.js';
import { decodeMethod, type Method } from './methods.generated.js';
import type { Reader } from './primitives.js';

/** The bytes as Erlang prints a binary, the way RabbitMQ quotes a frame it cannot decode. */
function erlangBinary(b: Buffer): string {
  return `<<${Array.from(b.subarray(0, 64)).join(',')}${b.length > 64 ? ',...' : ''}>>`;
}

/**
 * Decodes the method frame r covers. A frame that ends before its arguments do is a framing fault,
 * 501 FRAME_ERROR "cannot decode <<args>>" naming the method (what RabbitMQ answers), not a
 * syntax error: the peer's framing, not the values, is wrong.
 */
export function decodeMethodFrame(r: Reader): Method {
  const start = r.pos;
  try {
    return decodeMethod(r);
  } catch (e) {
    if (!(e instanceof TruncatedError)) throw e;
    const frame = r.buf.subarray(start, r.end);
    const classId = frame.length >= 2 ? frame.readUInt16BE(0) : 0;
    const methodId = frame.length >= 4 ? frame.readUInt16BE(2) : 0;
    throw new AmqpError(ReplyCode.FrameError, `cannot decode ${erlangBinary(frame.subarray(4))}`, 'connection', classId, methodId);
  }
}
