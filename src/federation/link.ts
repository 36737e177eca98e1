// One federation link: a federated exchange X of this broker (the downstream) receives what is
// published to an exchange of an upstream broker, as RabbitMQ's rabbitmq_federation does it. On the
// upstream the link declares an x-federation-upstream exchange and a queue ("federation: UX ->
// cluster:vhost:X"), binds the exchange to UX with every binding key X has here (kept in step as
// bindings come and go), consumes the queue and republishes each message to X with an
// x-received-from header, acking the upstream once this broker confirmed it (ack-mode on-confirm,
// the default). Any failure drops both ends and starts again after reconnect-delay.
import { Buffer } from 'node:buffer';
import {
  M,
  Reader,
  Writer,
  decodeBasicProperties,
  encodeBasicProperties,
  fromFieldValue,
  type FieldTable,
  type FieldValue,
} from '../frames/index.js';
import { ClosedError, type ClientChannel, type Delivery } from '../client/amqp-client.js';
import { Relay, type RelayHost } from '../client/relay.js';
import { parseAmqpUri, withoutCredentials, type AmqpUri } from '../client/uri.js';
import type { Upstream } from './definition.js';

/** What a link needs to know of the federated exchange here. */
export interface FederatedExchanges {
  /** Its type (a missing upstream exchange is declared with it). */
  typeOf(vhost: string, exchange: string): string | null;
  /** Its bindings now: routing key and arguments of each. */
  bindingsOf(vhost: string, exchange: string): { routingKey: string; arguments: FieldTable }[] | null;
}

const longstr = (s: string): FieldValue => ({ type: 'S', value: Buffer.from(s) });
const long = (n: number): FieldValue => ({ type: 'l', value: BigInt(n) });
/** How often the upstream bindings are brought in step with the federated exchange's. */
const BINDING_SYNC_MS = 1000;

/** A binding's identity: its key and its arguments. */
function bindingKey(routingKey: string, args: FieldTable): string {
  const plain = [...args].map(([k, v]) => [k, fromFieldValue(v)]);
  return `${routingKey}\0${JSON.stringify(plain, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('base64') : v))}`;
}

export class FederationLink extends Relay {
  uri: AmqpUri | null = null;
  private control: ClientChannel | null = null;
  private sync: NodeJS.Timeout | null = null;
  /** Upstream bindings made, by identity. */
  private readonly bound = new Map<string, { routingKey: string; arguments: FieldTable }>();
  private upstreamCluster = '';

  constructor(
    readonly vhost: string,
    readonly exchange: string,
    readonly upstream: Upstream,
    /** The policy that made it (the link's connection name says it). */
    readonly policy: string,
    private readonly host: RelayHost,
    private readonly exchanges: FederatedExchanges,
  ) {
    // 3.10.8 shows a link that cannot connect as error, with the reason.
    super(host.log.child({ federation: exchange, vhost, upstream: upstream.name }), upstream.ackMode, upstream.reconnectDelay, 'error');
    void this.start();
  }

  get upstreamExchange(): string {
    return this.upstream.exchange ?? this.exchange;
  }

  /** The upstream queue, and (with " B") its exchange, as RabbitMQ names them. */
  get queueName(): string {
    return `federation: ${this.upstreamExchange} -> ${this.host.clusterName}:${this.vhost}:${this.exchange}`;
  }

  /**
   * Stops the link; remove: its upstream queue and exchange are deleted too (the policy or the
   * upstream went), as RabbitMQ cleans up a link it no longer needs.
   */
  override stop(remove = false): Promise<void> {
    const cleanup = async (): Promise<void> => {
      const control = this.control;
      if (!control || control.closed) return;
      await control.call({ id: M.QueueDelete, args: { queue: this.queueName } });
      await control.call({ id: M.ExchangeDelete, args: { exchange: `${this.queueName} B` } });
    };
    return this.halt(remove ? cleanup : undefined);
  }

  protected async connect(): Promise<void> {
    const u = this.upstream;
    const name = `Federation link (upstream: ${u.name}, policy: ${this.policy})`;
    const direct = () => this.host.connectDirect();
    const [up, uri] = await this.open(u.uris, "federation link's upstream", name, this.vhost, direct);
    const cn = up.serverProperties.get('cluster_name');
    this.upstreamCluster = cn && (cn.type === 'S' || cn.type === 's') ? String(fromFieldValue(cn)) : '';
    // This broker's end: a direct connection to the federated exchange's vhost.
    const [down] = await this.open([parseAmqpUri('amqp://')], "federation link's downstream", name, this.vhost, direct);

    const control = await up.channel();
    this.control = control;
    // The upstream exchange: taken as it is, or declared with the federated exchange's type,
    // non-durable, as a 3.10.8 link declares a missing one.
    await control.call({ id: M.ExchangeDeclare, args: { exchange: this.upstreamExchange, passive: true } }).catch(async (e: unknown) => {
      if (!(e instanceof ClosedError) || e.code !== 404) throw e;
      // The refused passive declare closed that channel: this one carries on as the control channel.
      const ch = await up.channel();
      await ch.call({ id: M.ExchangeDeclare, args: { exchange: this.upstreamExchange, type: this.exchanges.typeOf(this.vhost, this.exchange) ?? 'fanout', durable: false } });
      this.control = ch;
    });
    const ctl = this.control!;
    // A refused binding closes it: the link starts again rather than run with its bindings out of step.
    ctl.on('close', (e) => this.onEndClosed("federation link's upstream", e));
    const internal = `${this.queueName} B`;
    const xargs: FieldTable = new Map([
      ['x-downstream-name', longstr(this.host.clusterName)],
      ['x-downstream-vhost', longstr(this.vhost)],
      ['x-internal-purpose', longstr('federation')],
      ['x-max-hops', long(u.maxHops)],
    ]);
    await ctl.call({ id: M.ExchangeDeclare, args: { exchange: internal, type: 'x-federation-upstream', durable: true, autoDelete: true, internal: true, arguments: xargs } });
    const qargs: FieldTable = new Map();
    if (u.expires !== null) qargs.set('x-expires', long(u.expires));
    if (u.messageTtl !== null) qargs.set('x-message-ttl', long(u.messageTtl));
    qargs.set('x-internal-purpose', longstr('federation'));
    await ctl.call({ id: M.QueueDeclare, args: { queue: this.queueName, durable: true, arguments: qargs } });
    await ctl.call({ id: M.QueueBind, args: { queue: this.queueName, exchange: internal, routingKey: '' } });
    this.bound.clear();
    await this.syncBindings();

    const [inCh, out] = await this.channels(up, down, u.prefetch, ["federation link's upstream", "federation link's downstream"]);
    const noAck = u.ackMode === 'no-ack';
    this.uri = uri;
    inCh.on('deliver', (m) => this.forward(m, inCh, out));
    await inCh.call({ id: M.BasicConsume, args: { queue: this.queueName, noAck } });
    this.enter('running');
    this.sync = setInterval(() => void this.syncBindings().catch(() => undefined), BINDING_SYNC_MS);
    this.sync.unref();
    this.log.info({ uri: withoutCredentials(uri.text) }, 'federation link running');
  }

  /** Binds the upstream exchange to the link's exchange with each key the federated exchange has here, and unbinds the rest. */
  private async syncBindings(): Promise<void> {
    const control = this.control;
    const now = this.exchanges.bindingsOf(this.vhost, this.exchange);
    if (!control || control.closed || !now) return;
    const want = new Map(now.map((b) => [bindingKey(b.routingKey, b.arguments), b]));
    const internal = `${this.queueName} B`;
    const boundFrom: FieldValue = {
      type: 'A',
      value: [
        {
          type: 'F',
          value: new Map([
            ['cluster-name', longstr(this.host.clusterName)],
            ['exchange', longstr(`${this.vhost}:${this.exchange} B`)],
            ['hops', long(this.upstream.maxHops)],
            ['vhost', longstr(this.vhost)],
          ]),
        },
      ],
    };
    for (const [k, b] of want) {
      if (this.bound.has(k)) continue;
      this.bound.set(k, b);
      const args: FieldTable = new Map(b.arguments);
      args.set('x-bound-from', boundFrom);
      await control.call({ id: M.ExchangeBind, args: { destination: internal, source: this.upstreamExchange, routingKey: b.routingKey, arguments: args } });
    }
    for (const [k, b] of [...this.bound]) {
      if (want.has(k)) continue;
      this.bound.delete(k);
      const args: FieldTable = new Map(b.arguments);
      args.set('x-bound-from', boundFrom);
      await control.call({ id: M.ExchangeUnbind, args: { destination: internal, source: this.upstreamExchange, routingKey: b.routingKey, arguments: args } });
    }
  }

  private forward(m: Delivery, inCh: ClientChannel, out: ClientChannel): void {
    if (this.stopped) return;
    out.publish(this.exchange, m.routingKey, this.received(m), m.body);
    this.forwarded(inCh, m.deliveryTag);
  }

  /** The message's properties with this hop first in x-received-from, as RabbitMQ adds it. */
  private received(m: Delivery): Buffer {
    const p = decodeBasicProperties(new Reader(m.properties, 0, m.properties.length));
    const headers: FieldTable = p.headers ?? new Map();
    const hop: FieldValue = {
      type: 'F',
      value: new Map([
        ['uri', longstr(withoutCredentials(this.uri?.text ?? ''))],
        ['exchange', longstr(this.upstreamExchange)],
        ['redelivered', { type: 't', value: m.redelivered }],
        ['cluster-name', longstr(this.upstreamCluster)],
        ['vhost', longstr(this.uri?.vhost ?? this.vhost)],
      ]),
    };
    // trust-user-id false (the default): the user_id is cleared, as RabbitMQ clears it.
    if (!this.upstream.trustUserId) p.userId = undefined;
    const before = headers.get('x-received-from');
    headers.set('x-received-from', { type: 'A', value: [hop, ...(before?.type === 'A' ? before.value : [])] });
    p.headers = headers;
    const w = new Writer(256);
    encodeBasicProperties(w, p);
    return w.take();
  }

  protected override onDisconnect(): void {
    if (this.sync) clearInterval(this.sync);
    this.sync = null;
    this.control = null;
    this.uri = null;
  }
}
