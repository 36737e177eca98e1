// A published message, shared (never copied) by every queue it is routed to, and its per-queue entry.
import {
  AmqpError,
  BasicPropertyFlag,
  Reader,
  ReplyCode,
  Writer,
  decodeBasicProperties,
  encodeBasicProperties,
  type BasicProperties,
  type FieldValue,
} from '../frames/index.js';

export class Message {
  private props: BasicProperties | null = null;

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

  /** The decoded properties, for the few features that read them (decoded once, on demand). */
  decoded(): BasicProperties {
    this.props ??= decodeBasicProperties(new Reader(this.properties, 0, this.properties.length));
    return this.props;
  }

  has(flag: number): boolean {
    return (this.properties.readUInt16BE(0) & flag) !== 0;
  }

  /** Per-message TTL in ms from the expiration property, or undefined when absent or unusable. */
  expiration(): number | undefined {
    if (!this.has(BasicPropertyFlag.expiration)) return undefined;
    const s = this.decoded().expiration;
    if (s === undefined || !/^\d+$/.test(s)) return undefined;
    return Number(s);
  }

  priority(): number {
    return this.has(BasicPropertyFlag.priority) ? (this.decoded().priority ?? 0) : 0;
  }
}

/** A message's place in one queue. */
export interface Entry {
  msg: Message;
  redelivered: boolean;
  /** When the message expires in this queue (ms since epoch), 0 for never. */
  expiresAt: number;
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

/** RabbitMQ refuses an expiration that is not a non-negative integer of milliseconds (406). */
export function checkExpiration(expiration: string): void {
  const fail = (why: string): never => {
    throw new AmqpError(ReplyCode.PreconditionFailed, `invalid expiration '${expiration}': ${why}`, 'channel');
  };
  if (!/^-?\d+$/.test(expiration)) fail('no_integer');
  const n = Number(expiration);
  if (n < 0) fail(`{value_negative,${n}}`);
  if (n > 0xffffffff) fail(`{value_too_large,${n}}`);
}

const routingKeysOf = (v: FieldValue | undefined): string[] =>
  v?.type === 'A' ? v.value.flatMap((x) => (x.type === 'S' ? [x.value.toString('utf8')] : [])) : [];

/** The CC routing keys of a message (RabbitMQ's sender-selected distribution). */
export function ccKeysOf(msg: Message): string[] {
  return msg.has(BasicPropertyFlag.headers) ? routingKeysOf(msg.decoded().headers?.get('CC')) : [];
}

/**
 * The extra routing keys of a message's CC and BCC headers, and the message to deliver (without
 * its BCC header); null when it has neither.
 */
export function senderSelected(msg: Message): { msg: Message; keys: string[] } | null {
  const headers = msg.decoded().headers;
  const cc = headers?.get('CC');
  const bcc = headers?.get('BCC');
  if (!cc && !bcc) return null;
  const keys = [...routingKeysOf(cc), ...routingKeysOf(bcc)];
  if (!bcc) return { msg, keys };
  const h = new Map(headers);
  h.delete('BCC');
  const w = new Writer(256);
  encodeBasicProperties(w, { ...msg.decoded(), headers: h });
  const stripped = new Message(msg.seq, msg.exchange, msg.routingKey, Buffer.from(w.take()), msg.body, msg.persistent);
  return { msg: stripped, keys };
}
