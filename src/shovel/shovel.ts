// One dynamic shovel at work: it consumes from its source (a queue, or a queue of its own bound to
// an exchange) and republishes each message to its destination, on this broker (amqp://, a direct
// connection) or another (amqp://host, amqps://host), acking the source once the destination has
// confirmed (on-confirm, the default), once published (on-publish), or never (no-ack). Any failure
// (a connection or channel closed, a refused declare) drops both ends and starts again after
// reconnect-delay, as RabbitMQ's shovel workers do; unacked messages go back to the source queue.
import { Buffer } from 'node:buffer';
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
import { ClosedError, type AmqpClient, type ClientChannel, type Delivery } from '../client/amqp-client.js';
import { Relay, type RelayHost } from '../client/relay.js';
import type { ShovelDefinition } from './definition.js';
import { withoutCredentials, type AmqpUri } from '../client/uri.js';

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

const longstr = (s: string): FieldValue => ({ type: 'S', value: Buffer.from(s) });

export class Shovel extends Relay {
  /** The URIs it is connected to, while running. */
  srcUri: AmqpUri | null = null;
  destUri: AmqpUri | null = null;
  /** Messages still to move before the shovel deletes itself (delete-after), or Infinity. */
  private remaining = Infinity;

  constructor(
    readonly vhost: string,
    readonly name: string,
    readonly def: ShovelDefinition,
    private readonly host: RelayHost,
    /** delete-after is reached: the owner clears the parameter, which stops this shovel. */
    private readonly onDone: () => void,
  ) {
    // 3.10.8 shows a shovel that cannot connect as starting.
    super(host.log.child({ shovel: name, vhost }), def.ackMode, def.reconnectDelay, 'starting');
    void this.start();
  }

  protected async connect(): Promise<void> {
    const d = this.def;
    const direct = () => this.host.connectDirect();
    const [src, srcUri] = await this.open(d.srcUris, "shovel's source", `Shovel ${this.name}`, this.vhost, direct);
    const [dest, destUri] = await this.open(d.destUris, "shovel's destination", `Shovel ${this.name}`, this.vhost, direct);
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
    this.remaining = d.deleteAfter === 'never' ? Infinity : d.deleteAfter === 'queue-length' ? messageCount : d.deleteAfter;
    if (this.remaining === 0) return this.finish();
    const [inCh, out] = await this.channels(src, dest, d.prefetch, ["shovel's source", "shovel's destination"]);
    const noAck = d.ackMode === 'no-ack';
    // Set before consuming: deliveries can come in the same read as consume-ok, before it resolves.
    this.srcUri = srcUri;
    this.destUri = destUri;
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
    this.forwarded(inCh, m.deliveryTag);
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

  protected override onSettled(): void {
    if (this.remaining <= 0 && this.unconfirmed.size === 0) this.finish();
  }

  private finish(): void {
    if (this.stopped) return;
    this.log.info('shovel moved what delete-after asked for: deleting itself');
    this.onDone();
  }

  protected override onDisconnect(): void {
    this.srcUri = this.destUri = null;
  }
}
