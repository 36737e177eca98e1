// A published message, shared (never copied) by every queue it is routed to, and its per-queue entry.
import { AmqpError, BasicPropertyFlag, ReplyCode } from '../frames/index.js';

export class Message {
  constructor(
    /** Broker-wide sequence number: the message's order and its name in the store. */
    readonly seq: number,
    readonly exchange: string,
    readonly routingKey: string,
    /** Property flags and list as the publisher sent them; passed through to consumers untouched. */
    readonly properties: Buffer,
    readonly body: Buffer,
    readonly persistent: boolean,
  ) {}
}

/** A message's place in one queue. */
export interface Entry {
  msg: Message;
  redelivered: boolean;
}

const malformed = (): AmqpError =>
  new AmqpError(ReplyCode.SyntaxError, 'malformed content header properties', 'connection');

/**
 * Reads delivery-mode straight off the raw property bytes, skipping the three properties before it,
 * so a publish never decodes properties the broker does not act on.
 */
export function deliveryModeOf(p: Buffer): number {
  if (p.length < 2) throw malformed();
  const flags = p.readUInt16BE(0);
  if (!(flags & BasicPropertyFlag.deliveryMode)) return 0;
  let pos = 2;
  if (flags & BasicPropertyFlag.contentType) pos += 1 + (p[pos] ?? 0);
  if (flags & BasicPropertyFlag.contentEncoding) pos += 1 + (p[pos] ?? 0);
  if (flags & BasicPropertyFlag.headers) {
    if (pos + 4 > p.length) throw malformed();
    pos += 4 + p.readUInt32BE(pos);
  }
  if (pos >= p.length) throw malformed();
  return p[pos]!;
}
