// Protocol errors as typed values: the scope decides whether the channel or the whole connection closes.
import { Buffer } from 'node:buffer';
import { replyCodeName } from './constants.js';

export type ErrorScope = 'channel' | 'connection';

export class AmqpError extends Error {
  readonly replyText: string;
  constructor(
    readonly code: number,
    text: string,
    readonly scope: ErrorScope,
    /** class and method ids of the method that caused it, 0 when no method did */
    public classId = 0,
    public methodId = 0,
  ) {
    super(text);
    this.replyText = truncateUtf8(`${replyCodeName[code] ?? 'ERROR'} - ${text}`, 255);
  }
}

/**
 * A read past the end of its frame: the frame is shorter than what it announces. Decoding a method
 * turns this into 501 FRAME_ERROR (see decodeMethodFrame), as RabbitMQ answers.
 */
export class TruncatedError extends AmqpError {}

export const channelError = (code: number, text: string): AmqpError => new AmqpError(code, text, 'channel');
export const connectionError = (code: number, text: string): AmqpError => new AmqpError(code, text, 'connection');

/** Cuts s to at most max bytes of UTF-8 without splitting a character (reply-text is a shortstr). */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  // A character cut in half decodes to U+FFFD at the end: drop it.
  return Buffer.from(s).subarray(0, max).toString('utf8').replace(/\uFFFD+$/, '');
}
