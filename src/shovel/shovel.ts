// One dynamic shovel at work: it consumes from its source (a queue, or a queue of its own bound to
// an exchange) and republishes each message to its destination, on this broker (amqp://, a direct
// connection) or another (amqp://host, amqps://host), acking the source once the destination has
// confirmed (on-confirm, the default), once published (on-publish), or never (no-ack). Any failure
// (a connection or channel closed, a refused declare) drops both ends and starts again after
// reconnect-delay, as RabbitMQ's shovel workers do; unacked messages go back to the source queue.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  M,
  Reader,
  Writer,
  decodeBasicProperties,
  encodeBasicProperties,
  toFieldTable,
  type BasicProperties,
  type FieldTable,
  type FieldValue,
  type PlainValue,
} from '../frames/index.js';
import type { JsonValue } from '../store/store.js';
import { AmqpClient, ClosedError, type ClientChannel, type Delivery } from '../client/amqp-client.js';
import type { ShovelDefinition } from './definition.js';
import { dial } from '../client/dial.js';
import { withoutCredentials, type AmqpUri } from '../client/uri.js';

export type ShovelState = 'starting' | 'running' | 'terminated';

/** What a shovel needs of the broker it runs in. */
export interface ShovelHost {
  connectDirect(): Duplex;
  readonly clusterName: string;
  readonly log: Logger;
}

/** The broker's name for each key of dest-publish-properties. */
const PROPERTY_NAMES: { [k: string]: keyof BasicProperties } = {
  content_type: 'contentType',
  content_encoding: 'contentEncoding',
  delivery_mode: 'deliveryMode',
  priority: 'priority',
  correlation_id: 'correlationId',
  reply_to: 'replyTo',
  expiration: 'expiration',
  message_id: 'messageId',
  timestamp: 'timestamp',
  type: 'type',
  user_id: 'userId',
  app_id: 'appId',
  cluster_id: 'clusterId',
};

/** How long a stop waits for the destination's confirms of what was forwarded. */
const STOP_WAIT_MS = 5000;

const longstr = (s: string): FieldValue => ({ type: 'S', value: Buffer.from(s) });

export class Shovel {
  state: ShovelState = 'starting';
  /** When the state last changed (the status's timestamp). */
  since = new Date();
  /** The URIs it is connected to, while running. */
  srcUri: AmqpUri | null = null;
  destUri: AmqpUri | null = null;
  private src: AmqpClient | null = null;
  private dest: AmqpClient | null = null;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Destination publish seq → source delivery tag, in publish order (on-confirm). */
  private readonly unconfirmed = new Map<number, number>();
  private publishSeq = 0;
  /** Messages still to move before the shovel deletes itself (delete-after), or Infinity. */
  private remaining = Infinity;
  private readonly log: Logger;
  /** Called once nothing is unconfirmed, while stop() waits for that. */
  private drained: (() => void) | null = null;
  /** The source channel that consumes (acks go there). */
  private inCh: ClientChannel | null = null;

  constructor(
    readonly vhost: string,
    readonly name: string,
    readonly def: ShovelDefinition,
    private readonly host: ShovelHost,
    /** delete-after is reached: the owner clears the parameter, which stops this shovel. */
    private readonly onDone: () => void,
  ) {
    this.log = host.log.child({ shovel: name, vhost });
    void this.start();
  }

  /**
   * Stops it. What the destination has not confirmed yet is waited for (up to STOP_WAIT_MS), so the
   * source gets its acks and does not deliver those messages again; nothing more is forwarded meanwhile
   * (later deliveries go back to the source queue when the channel closes).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    if (this.unconfirmed.size > 0 && this.dest && !this.dest.closed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, STOP_WAIT_MS);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    await this.disconnect();
  }

  /** restart_shovel: drop both ends and connect again at once. */
  restart(): void {
    if (this.stopped) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    void this.disconnect().then(() => this.start());
  }

  private enter(s: ShovelState): void {
    this.state = s;
    this.since = new Date();
  }

  private async start(): Promise<void> {
    if (this.stopped) return;
    this.enter('starting');
    try {
      await this.connect();
      if (this.stopped) return this.disconnect();
    } catch (e) {
      this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'shovel could not start');
      await this.disconnect();
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retry) return;
    this.enter('starting');
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.start();
    }, this.def.reconnectDelay * 1000);
    this.retry.unref();
  }

  private async open(uris: AmqpUri[], role: 'source' | 'destination'): Promise<[AmqpClient, AmqpUri]> {
    // As RabbitMQ: one of the URIs, at random.
    const uri = uris[Math.floor(Math.random() * uris.length)]!;
    const stream = uri.direct ? this.host.connectDirect() : await dial(uri);
    const client = await AmqpClient.open(stream, {
      user: uri.user,
      pass: uri.pass,
      vhost: uri.vhost ?? this.vhost,
      heartbeat: uri.direct ? 0 : uri.heartbeat,
      clientProperties: new Map([['connection_name', longstr(`Shovel ${this.name}`)]]),
      capabilities: !uri.direct,
    });
    client.on('close', (e) => this.onEndClosed(role, e));
    return [client, uri];
  }

  private async connect(): Promise<void> {
    const d = this.def;
    const [src, srcUri] = await this.open(d.srcUris, 'source');
    this.src = src;
    const [dest, destUri] = await this.open(d.destUris, 'destination');
    this.dest = dest;
    // The source: its queue (declared durable if missing), or a queue of its own on the exchange.
    let queue: string;
    let messageCount = 0;
    if (d.srcQueue !== null) {
      messageCount = await this.ensureQueue(src, d.srcQueue, d.srcQueueArgs);
      queue = d.srcQueue;
    } else {
      const ch = await src.channel();
      const ok = await ch.call({ id: M.QueueDeclare, args: { exclusive: true } });
      queue = ok.id === M.QueueDeclareOk ? ok.args.queue : '';
      await ch.call({ id: M.QueueBind, args: { queue, exchange: d.srcExchange ?? '', routingKey: d.srcExchangeKey } });
      await ch.call({ id: M.ChannelClose, args: { replyCode: 200, replyText: 'OK', classId: 0, methodId: 0 } });
    }
    if (d.destQueue !== null) await this.ensureQueue(dest, d.destQueue, d.destQueueArgs);
    const out = await dest.channel();
    if (d.ackMode === 'on-confirm') {
      await out.call({ id: M.ConfirmSelect, args: {} });
      out.on('ack', (tag, multiple) => this.settle(tag, multiple, true));
      out.on('nack', (tag, multiple) => this.settle(tag, multiple, false));
    }
    this.remaining = d.deleteAfter === 'never' ? Infinity : d.deleteAfter === 'queue-length' ? messageCount : d.deleteAfter;
    if (this.remaining === 0) return this.finish();
    const inCh = await src.channel();
    this.inCh = inCh;
    // A channel the broker closes (the queue deleted, a refused publish) ends the run, as a connection's end does.
    inCh.on('close', (e) => this.onEndClosed('source', e));
    out.on('close', (e) => this.onEndClosed('destination', e));
    const noAck = d.ackMode === 'no-ack';
    if (!noAck) await inCh.call({ id: M.BasicQos, args: { prefetchCount: d.prefetch } });
    // Set before consuming: deliveries can come in the same read as consume-ok, before it resolves.
    this.srcUri = srcUri;
    this.destUri = destUri;
    this.unconfirmed.clear();
    this.publishSeq = 0;
    inCh.on('deliver', (m) => this.forward(m, inCh, out));
    await inCh.call({ id: M.BasicConsume, args: { queue, noAck, arguments: toFieldTable(d.srcConsumerArgs as { [k: string]: PlainValue }) } });
    this.enter('running');
    this.log.info({ src: withoutCredentials(srcUri.text), dest: withoutCredentials(destUri.text) }, 'shovel running');
  }

  /** A passive declare, then a durable one if it is missing (rabbit_shovel's ensure_queue); the queue's message count. */
  private async ensureQueue(client: AmqpClient, queue: string, args: { [k: string]: JsonValue }): Promise<number> {
    const ch = await client.channel();
    try {
      const ok = await ch.call({ id: M.QueueDeclare, args: { queue, passive: true } });
      await ch.call({ id: M.ChannelClose, args: { replyCode: 200, replyText: 'OK', classId: 0, methodId: 0 } });
      return ok.id === M.QueueDeclareOk ? ok.args.messageCount : 0;
    } catch (e) {
      if (!(e instanceof ClosedError) || e.code !== 404) throw e;
    }
    const ch2 = await client.channel();
    const ok = await ch2.call({ id: M.QueueDeclare, args: { queue, durable: true, arguments: toFieldTable(args as { [k: string]: PlainValue }) } });
    await ch2.call({ id: M.ChannelClose, args: { replyCode: 200, replyText: 'OK', classId: 0, methodId: 0 } });
    return ok.id === M.QueueDeclareOk ? ok.args.messageCount : 0;
  }

  private forward(m: Delivery, inCh: ClientChannel, out: ClientChannel): void {
    if (this.remaining <= 0 || this.stopped) return;
    const d = this.def;
    const exchange = d.destQueue !== null ? '' : (d.destExchange ?? m.exchange);
    const routingKey = d.destQueue ?? d.destExchangeKey ?? m.routingKey;
    out.publish(exchange, routingKey, this.properties(m.properties), m.body);
    this.remaining--;
    if (d.ackMode === 'on-confirm') this.unconfirmed.set(++this.publishSeq, m.deliveryTag);
    else if (d.ackMode === 'on-publish') inCh.send({ id: M.BasicAck, args: { deliveryTag: m.deliveryTag, multiple: false } });
    if (d.ackMode !== 'on-confirm' && this.remaining === 0) this.finish();
  }

  /** The message's properties as the destination gets them: publish-properties, the forward headers. */
  private properties(raw: Buffer): Buffer {
    const d = this.def;
    const p = decodeBasicProperties(new Reader(raw, 0, raw.length));
    for (const [k, v] of Object.entries(d.publishProperties)) {
      const field = PROPERTY_NAMES[k];
      if (field) (p as Record<string, unknown>)[field] = v;
    }
    // 3.10.8 always sends a headers table, empty when the message had none.
    const headers: FieldTable = p.headers ?? new Map();
    if (d.addForwardHeaders) {
      const table: FieldTable = new Map([
        ['shovelled-by', longstr(this.host.clusterName)],
        ['shovel-type', longstr('dynamic')],
        ['shovel-name', longstr(this.name)],
        ['shovel-vhost', longstr(this.vhost)],
        ['src-uri', longstr(withoutCredentials(this.srcUri?.text ?? ''))],
        ['dest-uri', longstr(withoutCredentials(this.destUri?.text ?? ''))],
      ]);
      if (d.srcQueue !== null) table.set('src-queue', longstr(d.srcQueue));
      else {
        table.set('src-exchange', longstr(d.srcExchange ?? ''));
        table.set('src-exchange-key', longstr(d.srcExchangeKey));
      }
      if (d.destQueue !== null) table.set('dest-queue', longstr(d.destQueue));
      else {
        if (d.destExchange !== null) table.set('dest-exchange', longstr(d.destExchange));
        if (d.destExchangeKey !== null) table.set('dest-exchange-key', longstr(d.destExchangeKey));
      }
      const before = headers.get('x-shovelled');
      const earlier = before?.type === 'A' ? before.value : [];
      headers.set('x-shovelled', { type: 'A', value: [{ type: 'F', value: table }, ...earlier] });
    }
    if (d.addTimestampHeader) headers.set('x-shovelled-timestamp', { type: 'l', value: BigInt(Math.floor(Date.now() / 1000)) });
    p.headers = headers;
    const w = new Writer(256);
    encodeBasicProperties(w, p);
    return w.take();
  }

  /** The destination confirmed (or refused) publishes up to seq: ack (or requeue) their source messages. */
  private settle(seq: number, multiple: boolean, ok: boolean): void {
    const inCh = this.inCh;
    const tags: number[] = [];
    for (const [s, tag] of this.unconfirmed) {
      if (s > seq) break;
      if (multiple || s === seq) {
        tags.push(tag);
        this.unconfirmed.delete(s);
      }
    }
    if (tags.length === 0 || !inCh) return;
    const last = tags[tags.length - 1]!;
    // One frame for the lot when no earlier message is still waiting; else one per message.
    const first = this.unconfirmed.values().next();
    const prefix = first.done || first.value > last;
    const send = (deliveryTag: number, many: boolean): void =>
      inCh.send(ok ? { id: M.BasicAck, args: { deliveryTag, multiple: many } } : { id: M.BasicNack, args: { deliveryTag, multiple: many, requeue: true } });
    if (prefix && tags.length > 1) send(last, true);
    else for (const t of tags) send(t, false);
    if (this.unconfirmed.size === 0) this.drained?.();
    if (this.remaining <= 0 && this.unconfirmed.size === 0) this.finish();
  }

  private finish(): void {
    if (this.stopped) return;
    this.log.info('shovel moved what delete-after asked for: deleting itself');
    this.onDone();
  }

  private onEndClosed(role: 'source' | 'destination', e: ClosedError): void {
    if (this.stopped || this.state !== 'running') return;
    this.log.warn({ code: e.code, reason: e.message }, `shovel's ${role} closed`);
    this.enter('starting');
    void this.disconnect().then(() => this.scheduleRetry());
  }

  private async disconnect(): Promise<void> {
    const ends = [this.src, this.dest];
    this.src = this.dest = null;
    this.inCh = null;
    this.srcUri = this.destUri = null;
    await Promise.all(ends.map((c) => c?.close()));
  }
}
