// RabbitMQ's event exchange (the rabbitmq_event_exchange plugin), composed onto the broker by the
// entry when asked for (`--event-exchange`, as RabbitMQ needs the plugin enabled): what happens in
// the broker (src/server/events.ts) is published to the internal topic exchange amq.rabbitmq.event
// of one vhost ('/' unless told otherwise), routing key the event's type (queue.created,
// connection.closed, ...), the event's fields as headers with timestamp_in_ms last, the timestamp
// property in seconds, delivery mode 2 and an empty body, as 3.10.8 sends them.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { Writer, encodeBasicProperties, type FieldTable, type FieldValue } from '../frames/index.js';
import type { Broker } from '../server/broker.js';
import type { EventFields, EventValue } from '../server/events.js';
import { Message } from '../server/message.js';
import type { BrokerPlugin } from '../server/plugin.js';
import { erlangTerms } from '../server/erlang-print.js';

export const EVENT_EXCHANGE = 'amq.rabbitmq.event';

const str = (s: string): FieldValue => ({ type: 'S', value: Buffer.from(s, 'utf8') });

/** An event field as 3.10.8's rabbit_event_exchange types it. */
function fieldValue(v: EventValue): FieldValue {
  if (typeof v === 'string') return str(v);
  if (typeof v === 'number') return { type: 'l', value: BigInt(Math.trunc(v)) };
  if (typeof v === 'boolean') return { type: 't', value: v };
  if (Array.isArray(v)) return { type: 'A', value: v.map(str) };
  if ('terms' in v) return { type: 'A', value: erlangTerms(v.terms).map(str) };
  if ('table' in v) return { type: 'F', value: v.table };
  // An Erlang string is a list of character codes.
  return { type: 'A', value: [...Buffer.from(v.chars, 'utf8')].map((c) => ({ type: 'l', value: BigInt(c) })) };
}

class EventExchange {
  private readonly queued: { type: string; fields: EventFields; at: number }[] = [];
  private scheduled = false;

  constructor(
    private readonly broker: Broker,
    private readonly vhostName: string,
  ) {}

  /** Told now, published once the work that caused it is done (never in the middle of it). */
  readonly told = (type: string, fields: EventFields): void => {
    this.queued.push({ type, fields, at: Date.now() });
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(() => this.publishAll());
  };

  private publishAll(): void {
    this.scheduled = false;
    const vhost = this.broker.vhosts.get(this.vhostName);
    const exchange = vhost?.exchanges.get(EVENT_EXCHANGE);
    for (const { type, fields, at } of this.queued.splice(0)) {
      if (!vhost || !exchange) continue;
      const headers: FieldTable = new Map();
      for (const [k, v] of fields) headers.set(k, fieldValue(v));
      headers.set('timestamp_in_ms', { type: 'l', value: BigInt(at) });
      const w = new Writer(512);
      encodeBasicProperties(w, { headers, deliveryMode: 2, timestamp: Math.floor(at / 1000) });
      vhost.publish(exchange, new Message(vhost.nextSeq(), EVENT_EXCHANGE, type, Buffer.from(w.take()), Buffer.alloc(0), true));
    }
  }
}

/** The plugin: vhost is where amq.rabbitmq.event lives (RabbitMQ's event_exchange.vhost). */
export function eventExchangePlugin(vhost = '/'): BrokerPlugin {
  return {
    async beforeListen(broker: Broker): Promise<void> {
      const v = broker.vhosts.get(vhost);
      if (v && !v.exchanges.has(EVENT_EXCHANGE)) {
        v.addExchange({ name: EVENT_EXCHANGE, type: 'topic', durable: true, autoDelete: false, internal: true, arguments: new Map() });
        await broker.store.flush();
      }
      broker.events.listen(new EventExchange(broker, vhost).told);
    },
  };
}
