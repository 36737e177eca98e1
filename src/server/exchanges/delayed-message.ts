// The x-delayed-message exchange of RabbitMQ's community plugin rabbitmq_delayed_message_exchange,
// built from its source (rabbit_exchange_type_delayed_message, rabbit_delayed_message): it routes as
// its x-delayed-type (direct, topic, ...), except that a message whose x-delay header is a positive
// number of milliseconds (at most 2^32-1) is held that long, then routed with x-delay set to its
// negation (so it is not held again, and consumers can tell it was delayed). A held message is
// routed to no queue when published: a mandatory one comes back (as with the plugin), and a confirm
// waits for the store to have it. A durable exchange's held messages are kept in the store, so they
// survive a restart (the plugin's Mnesia table does too).
import { Buffer } from 'node:buffer';
import { Writer, encodeBasicProperties, fromFieldValue, type FieldTable } from '../../frames/index.js';
import { LongTimer } from '../long-timer.js';
import { Message, ccKeysOf, deliveryModeOf } from '../message.js';
import { Exchange, type Binding, type Destination, type ExchangeHost, type ExchangeSpec } from './exchange.js';

/** The largest delay the plugin takes (Erlang's timer limit); anything else routes at once. */
const MAX_DELAY_MS = 4294967295;
const INTEGER_TYPES = new Set(['b', 'B', 's', 'u', 'I', 'i', 'l']);

/** The exchange type a delayed-message exchange routes as (its x-delayed-type), if it names one. */
export function delayedTypeOf(args: FieldTable | undefined): string | undefined {
  const v = args?.get('x-delayed-type');
  return v?.type === 'S' ? v.value.toString('utf8') : undefined;
}

/** The refusal of a declare's arguments (the plugin's text, its typos kept), or undefined. */
export function checkDelayedArgs(args: FieldTable, isType: (t: string) => boolean): string | undefined {
  const t = delayedTypeOf(args);
  if (t === undefined || t === 'x-delayed-message' || !isType(t)) return "Invalid argument, 'x-delayed-type' must bean existing exchnage type";
  return undefined;
}

/** The x-delay of a message, as the plugin reads it: an integer, or a string or float it converts. */
function delayOf(headers: FieldTable | undefined): number | undefined {
  const v = headers?.get('x-delay');
  if (!v) return undefined;
  let n: number;
  if (INTEGER_TYPES.has(v.type)) n = Number(fromFieldValue(v));
  else if (v.type === 'S') n = /^[+-]?\d+$/.test(v.value.toString('latin1')) ? Number(v.value.toString('latin1')) : NaN;
  else if (v.type === 'f' || v.type === 'd') n = Math.trunc(v.value);
  else return undefined;
  return n > 0 && n <= MAX_DELAY_MS ? n : undefined;
}

export class DelayedMessageExchange extends Exchange {
  override readonly readsHeaders: boolean;
  private host: ExchangeHost | null = null;
  /**
   * Held messages by id (their key in the store, their seq until released): their timers. Ids are
   * the exchange's own, from the clock (ms × 1024, then counting), not the broker's message seqs:
   * a restart reads the held ones back while the broker is still finding its next seq, so one of
   * those could name a held message twice.
   */
  private readonly held = new Map<number, { msg: Message; timer: LongTimer }>();
  private lastId = 0;

  private nextId(): number {
    this.lastId = Math.max(this.lastId + 1, Date.now() * 1024);
    return this.lastId;
  }

  constructor(
    spec: ExchangeSpec,
    /** An exchange of the x-delayed-type, which holds the routes. */
    private readonly inner: Exchange,
  ) {
    super(spec);
    this.readsHeaders = inner.readsHeaders;
  }

  /** Where the store keeps this exchange's held messages (a name no queue can clash with). */
  private get storeKey(): string {
    return `\0x-delayed-message\0${this.name}`;
  }

  /** Joins its vhost; a durable one takes back the messages it held before a restart. */
  override attach(host: ExchangeHost, recovered: boolean): void {
    this.host = host;
    if (!recovered || !this.durable) return;
    void host.store.readDeadLetters(host.name, this.storeKey).then((stored) => {
      for (const m of stored) {
        if (this.deleted) return;
        this.lastId = Math.max(this.lastId, m.seq);
        const held = new Message(m.seq, m.exchange, m.routingKey, m.properties, m.body, deliveryModeOf(m.properties) === 2);
        if (m.bcc) held.bccKeys = m.bcc;
        this.schedule(held, m.expiresAt);
      }
    });
  }

  protected addRoute(b: Binding): void {
    this.inner.bind(b);
  }

  protected removeRoute(b: Binding): void {
    this.inner.unbind(b);
  }

  route(routingKey: string, headers: FieldTable | undefined, out: Destination[], msg?: Message, extra = false): void {
    const delay = msg && this.host ? delayOf(msg.decoded().headers) : undefined;
    if (delay === undefined || !msg) return this.inner.route(routingKey, headers, out, msg, extra);
    // The plugin holds the whole delivery, every routing key of it: a CC or BCC key (extra) is
    // routed with the message's own key when it is released, not now.
    if (extra) return;
    // Held: routed to no queue now; a message of its own (and a seq from the broker) when released.
    const host = this.host!;
    const held = new Message(this.nextId(), msg.exchange, msg.routingKey, msg.properties, msg.content, msg.persistent);
    if (msg.bccKeys) held.bccKeys = msg.bccKeys;
    const due = Date.now() + delay;
    if (this.durable) {
      host.store.putDeadLetter(host.name, this.storeKey, {
        seq: held.seq,
        redelivered: false,
        exchange: held.exchange,
        routingKey: held.routingKey,
        properties: held.properties,
        body: held.content,
        expiresAt: due,
        ...(held.bccKeys ? { bcc: held.bccKeys } : {}),
      });
      host.heldDurably();
    }
    this.schedule(held, due);
  }

  private schedule(msg: Message, due: number): void {
    this.held.set(msg.seq, { msg, timer: new LongTimer(due, () => this.release(msg)) });
  }

  /** The delay is over: routed with x-delay negated (and its CC and BCC keys), and forgotten by the store. */
  private release(msg: Message): void {
    const host = this.host;
    this.held.delete(msg.seq);
    if (!host || this.deleted) return;
    const props = { ...msg.decoded() };
    const headers: FieldTable = new Map(props.headers ?? []);
    const delay = delayOf(headers);
    if (delay !== undefined) headers.set('x-delay', { type: 'I', value: -delay });
    props.headers = headers;
    const w = new Writer(256);
    encodeBasicProperties(w, props);
    const due = new Message(host.nextSeq(), msg.exchange, msg.routingKey, Buffer.from(w.take()), msg.content, msg.persistent);
    const keys = ccKeysOf(due);
    if (msg.bccKeys) {
      due.bccKeys = msg.bccKeys;
      keys.push(...msg.bccKeys);
    }
    host.publishDue(this, due, keys.length > 0 ? keys : undefined);
    if (this.durable) host.store.deleteDeadLetter(host.name, this.storeKey, msg.seq);
  }

  /** Deleted: its held messages go, from the store too. */
  override detach(): void {
    for (const [seq, h] of this.held) {
      h.timer.clear();
      if (this.durable && this.host) this.host.store.deleteDeadLetter(this.host.name, this.storeKey, seq);
    }
    this.held.clear();
  }
}
