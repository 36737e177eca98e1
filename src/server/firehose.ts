// RabbitMQ's firehose tracer (`rabbitmqctl trace_on`, or `"tracing": true` on a vhost through the
// management API): while it is on, every message published in the vhost is copied to the
// amq.rabbitmq.trace exchange as `publish.<exchange>`, and every delivery and basic.get-ok as
// `deliver.<queue>`. The copy carries the body and, in its headers, what RabbitMQ 3.10.8's
// rabbit_trace puts there (checked with amqplib against a 3.10.8 node): the exchange, the routing
// keys (CC and BCC included), the properties as a table, the node, vhost, connection name, channel
// number and user, then routed_queues for a publish or redelivered (0/1) for a delivery.
// Messages of the trace exchange itself are never traced, or a trace queue's consumer would loop.
// Tracing is per node and not kept across a restart, as RabbitMQ's.
import { Buffer } from 'node:buffer';
import { Writer, encodeBasicProperties, type BasicProperties, type FieldTable, type FieldValue } from '../frames/index.js';
import { REPLY_TO_PREFIX } from './direct-reply-to.js';
import { Message, ccKeysOf } from './message.js';
import type { Queue } from './queue.js';
import type { VHost } from './vhost.js';

export const TRACE_EXCHANGE = 'amq.rabbitmq.trace';

/** Who published or received a message: a channel, as the trace headers name it. */
export interface TraceOrigin {
  /** As the management API names the connection: "peer:port -> local:port". */
  readonly connectionName: string;
  readonly channel: number;
  readonly user: string;
}

const str = (s: string): FieldValue => ({ type: 'S', value: Buffer.from(s, 'utf8') });
const strs = (list: readonly string[]): FieldValue => ({ type: 'A', value: list.map(str) });
// rabbit_trace types every integer property as a signedint ('I'); a timestamp past 2038 does not
// fit one, so it goes as a long long instead of being cut short.
const int = (n: number): FieldValue => (n >= -0x8000_0000 && n <= 0x7fff_ffff ? { type: 'I', value: n } : { type: 'l', value: BigInt(n) });

/** The properties as rabbit_trace lists them: the present ones, in the reverse of their wire order. */
function propertiesTable(p: BasicProperties): FieldTable {
  const t: FieldTable = new Map();
  const s = (k: string, v: string | undefined): void => void (v !== undefined && t.set(k, str(v)));
  const n = (k: string, v: number | undefined): void => void (v !== undefined && t.set(k, int(v)));
  s('cluster_id', p.clusterId);
  s('app_id', p.appId);
  s('user_id', p.userId);
  s('type', p.type);
  n('timestamp', p.timestamp);
  s('message_id', p.messageId);
  s('expiration', p.expiration);
  s('reply_to', p.replyTo);
  s('correlation_id', p.correlationId);
  n('priority', p.priority);
  n('delivery_mode', p.deliveryMode);
  if (p.headers !== undefined) t.set('headers', { type: 'F', value: p.headers });
  s('content_encoding', p.contentEncoding);
  s('content_type', p.contentType);
  return t;
}

export class Firehose {
  /** Scratch list for routing a trace message (never the vhost's own, which a publish may be using). */
  private readonly routed: Queue[] = [];

  constructor(
    private readonly vhost: VHost,
    private readonly node: string,
  ) {}

  /** A message published by origin to exchange, with all its routing keys, routed to queues. */
  published(origin: TraceOrigin, exchange: string, msg: Message, extraKeys: readonly string[] | undefined, queues: readonly Queue[]): void {
    if (exchange === TRACE_EXCHANGE) return;
    const keys = extraKeys && extraKeys.length > 0 ? [msg.routingKey, ...extraKeys] : [msg.routingKey];
    const h = this.common(msg, keys);
    this.origin(h, origin);
    // Through the default exchange 3.10.8 names every key as a queue, there or not, once each, in
    // byte order (its routing answers names without looking the queues up).
    // A direct reply-to reply is no such route: 3.10.8 lists no queue for it.
    const byName = exchange === '' && !msg.routingKey.startsWith(REPLY_TO_PREFIX);
    const routed = byName ? [...new Set(keys)].sort() : queues.map((q) => q.name);
    h.set('routed_queues', strs(routed));
    this.emit(`publish.${exchange}`, h, msg);
  }

  /** A message of queue handed to origin (basic.deliver or basic.get-ok). */
  delivered(origin: TraceOrigin, queue: Queue, msg: Message, redelivered: boolean): void {
    if (msg.exchange === TRACE_EXCHANGE) return;
    // The CC keys are in the headers, BCC's beside them (Message.bccKeys, kept in the store too).
    const cc = ccKeysOf(msg);
    const h = this.common(msg, cc.length > 0 || msg.bccKeys ? [msg.routingKey, ...cc, ...(msg.bccKeys ?? [])] : [msg.routingKey]);
    h.set('redelivered', { type: 'I', value: redelivered ? 1 : 0 });
    this.origin(h, origin);
    this.emit(`deliver.${queue.name}`, h, msg);
  }

  private common(msg: Message, keys: readonly string[]): FieldTable {
    return new Map<string, FieldValue>([
      ['exchange_name', str(msg.exchange)],
      ['routing_keys', strs(keys)],
      ['properties', { type: 'F', value: propertiesTable(msg.decoded()) }],
      ['node', str(this.node)],
    ]);
  }

  private origin(h: FieldTable, o: TraceOrigin): void {
    h.set('vhost', str(this.vhost.name));
    h.set('connection', str(o.connectionName));
    h.set('channel', { type: 'I', value: o.channel });
    h.set('user', str(o.user));
  }

  /** Routes the trace message through amq.rabbitmq.trace's bindings: transient, unconfirmed, never returned. */
  private emit(routingKey: string, headers: FieldTable, msg: Message): void {
    const exchange = this.vhost.exchanges.get(TRACE_EXCHANGE);
    if (!exchange) return;
    const w = new Writer(256);
    encodeBasicProperties(w, { headers });
    const trace = new Message(this.vhost.nextSeq(), TRACE_EXCHANGE, routingKey, Buffer.from(w.take()), msg.content, false);
    const routed = this.routed;
    routed.length = 0;
    // The headers go along for a headers exchange bound to the trace exchange.
    this.vhost.route(exchange, routingKey, headers, routed, this.vhost.newMark());
    exchange.publishIn++;
    exchange.publishOut += routed.length;
    for (const q of routed) {
      q.stats.publish++;
      q.enqueue(trace);
    }
    routed.length = 0;
  }
}
