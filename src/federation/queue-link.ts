// One queue federation link: a federated queue Q of this broker takes messages from a queue of an
// upstream broker, but only while Q's own consumers want them (it has consumers and nothing
// ready), as RabbitMQ's rabbitmq_federation moves queue messages: where the consumers are. The
// link declares the upstream queue if missing (durable), consumes it with x-priority -1 (so the
// upstream's own consumers go first) under the tag federation-link-<upstream>, and republishes each
// message to Q through the default exchange with x-original-exchange, x-original-routing-key and
// an x-received-from entry, acking upstream once this broker confirmed it. RabbitMQ keeps its
// consumer and gives it no credit while Q wants nothing; Warren, whose clients have no credit to
// give, cancels it and consumes again when Q wants messages.
import { Buffer } from 'node:buffer';
import { M, Reader, Writer, decodeBasicProperties, encodeBasicProperties, fromFieldValue, type FieldTable, type FieldValue } from '../frames/index.js';
import type { ClientChannel, Delivery } from '../client/amqp-client.js';
import { Relay, type RelayHost } from '../client/relay.js';
import { parseAmqpUri, withoutCredentials, type AmqpUri } from '../client/uri.js';
import type { Upstream } from './definition.js';

/** What a queue link needs to know of the federated queue here: whether its consumers want messages. */
export type QueueDemand = (vhost: string, queue: string) => boolean;

const longstr = (s: string): FieldValue => ({ type: 'S', value: Buffer.from(s) });
/** How often the federated queue's demand is looked at. */
const DEMAND_CHECK_MS = 100;

export class QueueFederationLink extends Relay {
  uri: AmqpUri | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The upstream consumer's tag while it consumes. */
  private consuming = false;
  private switching = false;

  constructor(
    readonly vhost: string,
    readonly queue: string,
    readonly upstream: Upstream,
    readonly policy: string,
    private readonly host: RelayHost,
    private readonly demand: QueueDemand,
  ) {
    super(host.log.child({ federation: queue, vhost, upstream: upstream.name }), upstream.ackMode, upstream.reconnectDelay, 'error');
    void this.start();
  }

  get upstreamQueue(): string {
    return this.upstream.queue ?? this.queue;
  }

  get consumerTag(): string {
    return this.upstream.consumerTag ?? `federation-link-${this.upstream.name}`;
  }

  protected async connect(): Promise<void> {
    const u = this.upstream;
    const name = `Federation link (upstream: ${u.name}, policy: ${this.policy})`;
    const direct = () => this.host.connectDirect();
    const [up, uri] = await this.open(u.uris, "federation link's upstream", name, this.vhost, direct);
    const [down] = await this.open([parseAmqpUri('amqp://')], "federation link's downstream", name, this.vhost, direct);
    const control = await up.channel();
    await control.call({ id: M.QueueDeclare, args: { queue: this.upstreamQueue, durable: true } });
    const [inCh, out] = await this.channels(up, down, u.prefetch, ["federation link's upstream", "federation link's downstream"]);
    inCh.on('deliver', (m) => this.forward(m, inCh, out));
    this.uri = uri;
    this.consuming = false;
    this.enter('running');
    this.timer = setInterval(() => void this.follow(inCh), DEMAND_CHECK_MS);
    this.timer.unref();
    await this.follow(inCh);
  }

  /** Consumes upstream while the federated queue wants messages, and stops when it does not. */
  private async follow(inCh: ClientChannel): Promise<void> {
    if (this.switching || this.stopped || inCh.closed) return;
    const want = this.demand(this.vhost, this.queue);
    if (want === this.consuming) return;
    this.switching = true;
    try {
      if (want) {
        const args: FieldTable = new Map([['x-priority', { type: 'I', value: -1 }]]);
        await inCh.call({ id: M.BasicConsume, args: { queue: this.upstreamQueue, consumerTag: this.consumerTag, noAck: this.upstream.ackMode === 'no-ack', arguments: args } });
      } else {
        await inCh.call({ id: M.BasicCancel, args: { consumerTag: this.consumerTag } });
      }
      this.consuming = want;
    } catch {
      // The channel closed: onEndClosed starts the link again.
    } finally {
      this.switching = false;
    }
  }

  private forward(m: Delivery, inCh: ClientChannel, out: ClientChannel): void {
    if (this.stopped) return;
    out.publish('', this.queue, this.received(m), m.body);
    this.forwarded(inCh, m.deliveryTag);
  }

  /** The properties as RabbitMQ's queue link passes them on: where the message came from, and how often it came this way. */
  private received(m: Delivery): Buffer {
    const p = decodeBasicProperties(new Reader(m.properties, 0, m.properties.length));
    const headers: FieldTable = p.headers ?? new Map();
    if (!headers.has('x-original-exchange')) headers.set('x-original-exchange', longstr(m.exchange));
    if (!headers.has('x-original-routing-key')) headers.set('x-original-routing-key', longstr(m.routingKey));
    const uri = withoutCredentials(this.uri?.text ?? '');
    const before = headers.get('x-received-from');
    const earlier = before?.type === 'A' ? before.value : [];
    const text = (t: FieldValue, k: string): string | undefined => {
      const v = t.type === 'F' ? t.value.get(k) : undefined;
      return v && (v.type === 'S' || v.type === 's') ? String(fromFieldValue(v)) : undefined;
    };
    const visits = earlier.filter((t) => text(t, 'uri') === uri && text(t, 'queue') === this.upstreamQueue).length;
    const hop: FieldValue = {
      type: 'F',
      value: new Map<string, FieldValue>([
        ['uri', longstr(uri)],
        ['queue', longstr(this.upstreamQueue)],
        ['redelivered', { type: 't', value: m.redelivered }],
        ['visit-count', { type: 'l', value: BigInt(visits + 1) }],
      ]),
    };
    headers.set('x-received-from', { type: 'A', value: [hop, ...earlier.filter((t) => !(text(t, 'uri') === uri && text(t, 'queue') === this.upstreamQueue))] });
    if (!this.upstream.trustUserId) p.userId = undefined;
    p.headers = headers;
    const w = new Writer(256);
    encodeBasicProperties(w, p);
    return w.take();
  }

  protected override onDisconnect(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.consuming = false;
    this.uri = null;
  }
}
