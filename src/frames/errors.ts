// Protocol errors as typed values: the scope decides whether the channel or the whole connection closes.
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
    this.replyText = `${replyCodeName[code] ?? 'ERROR'} - ${text}`.slice(0, 255);
  }
}

export const channelError = (code: number, text: string): AmqpError => new AmqpError(code, text, 'channel');
export const connectionError = (code: number, text: string): AmqpError => new AmqpError(code, text, 'connection');
