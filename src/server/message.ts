// A published message, shared (never copied) by every queue it is routed to, and its per-queue entry.
import { Buffer } from 'node:buffer';
import {
  AmqpError,
  BasicPropertyFlag,
  Reader,
  ReplyCode,
  Writer,
  FIELD_TYPE_NAMES,
  decodeBasicProperties,
  encodeBasicProperties,
  bodyLength,
  joinBody,
  u32At,
  PooledBody,
  type BasicProperties,
  type Body,
  type FieldValue,
} from '../frames/index.js';
import type { ConfirmWait } from './confirms.js';

export class Message {
  private props: BasicProperties | null = null;
  /** The body as it came: one buffer, or a large one's pieces until something needs it whole. */
  private held: Body;
  readonly bodySize: number;
  /**
   * The BCC header's keys, which RabbitMQ keeps with the message (not in its headers) and routes a
   * dead-lettered message to and lists in delivery traces. The store keeps them too (StoredMessage.bcc).
   * Declared, not defined: only the few messages that had BCC get it, the rest keep their shape.
   */
  declare bccKeys?: readonly string[];
  /**
   * While its publisher waits for the confirm of it, and its queues may give it before the store
   * does (confirms.ts ConfirmWait): set on every message, so that all keep one shape.
   */
  confirmWait: ConfirmWait | null = null;

  constructor(
    /** Broker-wide sequence number: the message's order and its name in the store. */
    readonly seq: number,
    readonly exchange: string,
    readonly routingKey: string,
    /** Property flags and list as the publisher sent them; passed through to consumers untouched. */
    readonly properties: Buffer,
    body: Body,
    readonly persistent: boolean,
  ) {
    this.held = body;
    this.bodySize = bodyLength(body);
    if (body instanceof PooledBody) body.owners++;
  }

  /**
   * The body in one buffer. A body held in pieces is joined on the first call (and kept so):
   * delivery, paging and body files take the pieces (content) and never need this.
   */
  get body(): Buffer {
    const b = this.held;
    return Buffer.isBuffer(b) ? b : (this.held = joinBody(Message.pin(b)));
  }

  /**
   * The body as held, for writing it out by reference. Whoever takes it may keep it (a store
   * write, a page file, a trace, a dead letter), so a pooled body is pinned: never given back.
   */
  get content(): Body {
    const b = this.held;
    return Buffer.isBuffer(b) ? b : Message.pin(b);
  }

  /**
   * The body for a consumer's basic.deliver, the one use that does not pin a pooled body: the
   * delivery is counted, and recycle() gives the slabs back only once its write is done and acked.
   */
  deliverable(): Body {
    const b = this.held;
    if (b instanceof PooledBody) {
      Message.alive(b);
      b.deliveries++;
    }
    return b;
  }

  /**
   * The body for a store write, which reads it until the write is done (a body file's writev):
   * a pooled body is held, not pinned, and unstored() lets it go once the store has written it.
   */
  storable(): Body {
    const b = this.held;
    if (b instanceof PooledBody) {
      Message.alive(b);
      b.holds++;
    }
    return b;
  }

  /** Whether the body is in pool slabs (and storable() took a hold that unstored() must end). */
  get pooled(): boolean {
    return this.held instanceof PooledBody;
  }

  /** The store is done with the body storable() gave it; failed: it may still read it, so pinned. */
  unstored(failed = false): void {
    const b = this.held;
    if (!(b instanceof PooledBody)) return;
    b.holds--;
    if (failed) b.pinned = true;
    else if (b.holds === 0 && b.recycleWhenFree) this.recycle();
  }

  /** The message was put on a queue (counted for a pooled body: one queue only may give it back). */
  queued(): void {
    if (this.held instanceof PooledBody) this.held.enqueues++;
  }

  /**
   * Called when a consumer's ack settled this message and the delivery's socket write is done:
   * a pooled body goes back to the pool if that delivery was its only use. Anything else (a second
   * message, queue or delivery, any other reader) leaves it to the GC.
   */
  recycle(): void {
    const b = this.held;
    if (!(b instanceof PooledBody) || b.pinned || b.recycled) return;
    if (b.owners !== 1 || b.enqueues !== 1 || b.deliveries !== 1) return;
    if (b.holds > 0) b.recycleWhenFree = true; // acked before its store write was done
    else b.recycle();
  }

  private static pin(b: Body): Body {
    if (b instanceof PooledBody) {
      Message.alive(b);
      b.pinned = true;
    }
    return b;
  }

  /** A recycled body's slabs may hold another message now: reading it is a bug, refused loudly. */
  private static alive(b: PooledBody): void {
    if (b.recycled) throw new Error('message body read after its slabs went back to the pool');
  }

  /**
   * The decoded properties, for the few features that read them (decoded once, on demand). A
   * property list whose nested contents do not decode reads as no properties: it was checked in
   * shape at publish, and this runs in timers and routing too, where a throw must not escape.
   */
  decoded(): BasicProperties {
    if (!this.props) {
      try {
        this.props = decodeBasicProperties(new Reader(this.properties, 0, this.properties.length));
      } catch {
        this.props = {};
      }
    }
    return this.props;
  }

  has(flag: number): boolean {
    // By bytes: readUInt16BE validates its offset on every call, and this runs per message.
    const p = this.properties;
    return (((p[0]! << 8) | p[1]!) & flag) !== 0;
  }

  /** Per-message TTL in ms from the expiration property, or undefined when absent or unusable. */
  expiration(): number | undefined {
    if (!this.has(BasicPropertyFlag.expiration)) return undefined;
    const s = this.decoded().expiration;
    return s === undefined ? undefined : expirationMs(s);
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
  /** Quorum queues: how many times the message was returned (x-delivery-count); unset before the first. */
  deliveryCount?: number;
}

const malformed = (): AmqpError =>
  new AmqpError(ReplyCode.SyntaxError, 'malformed content header properties', 'connection');

/** The wire type of each basic property, in flag order (bit 15 first). */
const PROPERTY_TYPES = ['s', 's', 't', 'o', 'o', 's', 's', 's', 's', 'l', 's', 's', 's', 's'] as const;
/** reply_to's place in that order (content-type, content-encoding, headers, delivery-mode, priority, correlation-id, reply-to). */
const REPLY_TO_INDEX = 6;

/** What a publish needs to know of the raw properties, filled in by scanProperties. */
export interface PropertyScan {
  deliveryMode: number;
  /** Bytes inside the headers table: 0 when there are no headers or the table is empty. */
  headerBytes: number;
  /** Where reply_to's length octet is in the list, -1 when it is absent. */
  replyToAt: number;
}

/**
 * Walks the raw property list once, checking that every length stays inside it, and notes the
 * delivery mode and the size of the headers. No property is decoded: the broker passes them
 * through untouched and decodes them only for the few features that need one. A malformed list
 * is refused here, at publish, rather than failing later in a timer.
 */
export function scanProperties(p: Buffer, out: PropertyScan): PropertyScan {
  if (p.length < 2) throw malformed();
  const flags = (p[0]! << 8) | p[1]!;
  if (flags & 1) throw malformed(); // no continuation flags in class basic
  let pos = 2;
  out.deliveryMode = 0;
  out.headerBytes = 0;
  out.replyToAt = -1;
  for (let i = 0; i < PROPERTY_TYPES.length; i++) {
    if (!(flags & (1 << (15 - i)))) continue;
    const t = PROPERTY_TYPES[i];
    if (t === 's') {
      if (pos >= p.length) throw malformed();
      if (i === REPLY_TO_INDEX) out.replyToAt = pos;
      pos += 1 + p[pos]!;
    } else if (t === 't') {
      if (pos + 4 > p.length) throw malformed();
      out.headerBytes = u32At(p, pos);
      pos += 4 + out.headerBytes;
    } else if (t === 'o') {
      if (pos >= p.length) throw malformed();
      if (i === 3) out.deliveryMode = p[pos]!;
      pos += 1;
    } else {
      pos += 8;
    }
    if (pos > p.length) throw malformed();
  }
  return out;
}

export function deliveryModeOf(p: Buffer): number {
  return scanProperties(p, { deliveryMode: 0, headerBytes: 0, replyToAt: -1 }).deliveryMode;
}

/** RabbitMQ's ?MAX_EXPIRY_TIMER (3.10.8: ten years in ms): the largest expiration, x-expires and x-message-ttl. */
export const MAX_EXPIRY_MS = 315_360_000_000;

/** An expiration's digits as Erlang's string:to_integer reads them (a sign, then digits), and what follows. */
const EXPIRATION = /^([+-]?\d+)(.*)$/s;

/** The expiration in ms, or undefined when it is not one (checkExpiration refused it at publish). */
export function expirationMs(expiration: string): number | undefined {
  const m = EXPIRATION.exec(expiration);
  if (!m || m[2] !== '') return undefined;
  const n = Number(m[1]);
  return n >= 0 ? Math.abs(n) : undefined;
}

/**
 * RabbitMQ 3.10.8's rabbit_basic:parse_expiration: a 406 naming what is wrong, in its words
 * (no_integer, {leftover_string,"abc"}, {value_negative,-1}, {value_too_large,N} past ten years).
 */
export function checkExpiration(expiration: string): void {
  const fail = (why: string): never => {
    throw new AmqpError(ReplyCode.PreconditionFailed, `invalid expiration '${expiration}': ${why}`, 'channel');
  };
  const m = EXPIRATION.exec(expiration);
  if (!m) return fail('no_integer');
  if (m[2] !== '') fail(`{leftover_string,"${m[2]}"}`);
  const n = Number(m[1]);
  if (n < 0) fail(`{value_negative,${n}}`);
  if (n > MAX_EXPIRY_MS) fail(`{value_too_large,${n}}`);
}

/** The routing keys of a CC or BCC header's value (RabbitMQ's rabbit_basic:header_routes). */
export const routingKeysOf = (v: FieldValue | undefined): string[] =>
  v?.type === 'A' ? v.value.flatMap((x) => (x.type === 'S' ? [x.value.toString('utf8')] : [])) : [];

/** The CC routing keys of a message (RabbitMQ's sender-selected distribution). */
export function ccKeysOf(msg: Message): string[] {
  return msg.has(BasicPropertyFlag.headers) ? routingKeysOf(msg.decoded().headers?.get('CC')) : [];
}

/**
 * The extra routing keys of a message's CC and BCC headers, and the message to deliver (without
 * its BCC header); null when it has neither. A CC or BCC that is not an array makes the message
 * invalid, as RabbitMQ 3.10.8 answers: 406 `invalid message: {unacceptable_type_in_header,"CC",byte}`.
 */
export function senderSelected(msg: Message): { msg: Message; keys: string[] } | null {
  const headers = msg.decoded().headers;
  const cc = headers?.get('CC');
  const bcc = headers?.get('BCC');
  if (!cc && !bcc) return null;
  for (const [name, v] of [['CC', cc], ['BCC', bcc]] as const) {
    if (v && v.type !== 'A') {
      throw new AmqpError(ReplyCode.PreconditionFailed, `invalid message: {unacceptable_type_in_header,"${name}",${FIELD_TYPE_NAMES[v.type]}}`, 'channel');
    }
  }
  const keys = [...routingKeysOf(cc), ...routingKeysOf(bcc)];
  if (!bcc) return { msg, keys };
  const h = new Map(headers);
  h.delete('BCC');
  const w = new Writer(256);
  encodeBasicProperties(w, { ...msg.decoded(), headers: h });
  const stripped = new Message(msg.seq, msg.exchange, msg.routingKey, Buffer.from(w.take()), msg.body, msg.persistent);
  stripped.bccKeys = routingKeysOf(bcc);
  return { msg: stripped, keys };
}

/**
 * A quorum queue's delivery properties: the publisher's, with the x-delivery-count header RabbitMQ
 * 3.10 adds (checked on 3.10.8: on every basic.get, 0 the first time; on a consumer's delivery only
 * once the message was returned, with the number of returns).
 */
export function withDeliveryCount(entry: Entry, always: boolean): Buffer {
  const n = entry.deliveryCount ?? 0;
  if (n === 0 && !always) return entry.msg.properties;
  const props = entry.msg.decoded();
  const headers = new Map(props.headers ?? []);
  headers.set('x-delivery-count', { type: 'l', value: BigInt(n) });
  const w = new Writer(256);
  encodeBasicProperties(w, { ...props, headers });
  return Buffer.from(w.take());
}
