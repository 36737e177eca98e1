// One federation link: a federated exchange X of this broker (the downstream) receives what is
// published to an exchange of an upstream broker, as RabbitMQ's rabbitmq_federation does it. On the
// upstream the link declares an x-federation-upstream exchange and a queue ("federation: UX ->
// cluster:vhost:X"), binds the exchange to UX with every binding key X has here (kept in step as
// bindings come and go), consumes the queue and republishes each message to X with an
// x-received-from header, acking the upstream once this broker confirmed it (ack-mode on-confirm,
// the default). Any failure drops both ends and starts again after reconnect-delay.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
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
import { AmqpClient, ClosedError, type ClientChannel, type Delivery } from '../client/amqp-client.js';
import { dial } from '../client/dial.js';
import { withoutCredentials, type AmqpUri } from '../client/uri.js';
import type { Upstream } from './definition.js';

export type LinkStatus = 'starting' | 'running' | 'error';

/** What a link needs of the broker it runs in. */
export interface LinkHost {
  connectDirect(): Duplex;
  readonly clusterName: string;
  readonly log: Logger;
  /** The federated exchange's type (a missing upstream exchange is declared with it). */
  typeOf(vhost: string, exchange: string): string | null;
  /** The federated exchange's bindings now: routing key and arguments of each. */
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

export class FederationLink {
  status: LinkStatus = 'starting';
  error: string | null = null;
  since = new Date();
  uri: AmqpUri | null = null;
  private up: AmqpClient | null = null;
  private down: AmqpClient | null = null;
  private control: ClientChannel | null = null;
  private inCh: ClientChannel | null = null;
  private retry: NodeJS.Timeout | null = null;
  private sync: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Upstream bindings made, by identity. */
  private readonly bound = new Map<string, { routingKey: string; arguments: FieldTable }>();
  private readonly unconfirmed = new Map<number, number>();
  private publishSeq = 0;
  private upstreamCluster = '';
  private readonly log: Logger;

  constructor(
    readonly vhost: string,
    readonly exchange: string,
    readonly upstream: Upstream,
    /** The policy that made it (the link's connection name says it). */
    readonly policy: string,
    private readonly host: LinkHost,
  ) {
    this.log = host.log.child({ federation: exchange, vhost, upstream: upstream.name });
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
  async stop(remove = false): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    if (remove && this.control && !this.up?.closed) {
      await this.control.call({ id: M.QueueDelete, args: { queue: this.queueName } }).catch(() => undefined);
      await this.control.call({ id: M.ExchangeDelete, args: { exchange: `${this.queueName} B` } }).catch(() => undefined);
    }
    await this.disconnect();
  }

  restart(): void {
    if (this.stopped) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    void this.disconnect().then(() => this.start());
  }

  private enter(s: LinkStatus, error: string | null = null): void {
    this.status = s;
    this.error = error;
    this.since = new Date();
  }

  private async start(): Promise<void> {
    if (this.stopped) return;
    this.enter('starting');
    try {
      await this.connect();
      if (this.stopped) await this.disconnect();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.log.warn({ err: why }, 'federation link could not start');
      await this.disconnect();
      if (this.stopped) return;
      this.enter('error', why);
      this.retry = setTimeout(() => {
        this.retry = null;
        void this.start();
      }, this.upstream.reconnectDelay * 1000);
      this.retry.unref();
    }
  }

  private async connect(): Promise<void> {
    const u = this.upstream;
    const uri = u.uris[Math.floor(Math.random() * u.uris.length)]!;
    const name = new Map([['connection_name', longstr(`Federation link (upstream: ${u.name}, policy: ${this.policy})`)]]);
    const up = await AmqpClient.open(uri.direct ? this.host.connectDirect() : await dial(uri), {
      user: uri.user,
      pass: uri.pass,
      vhost: uri.vhost ?? this.vhost,
      heartbeat: uri.direct ? 0 : uri.heartbeat,
      clientProperties: name,
      capabilities: !uri.direct,
    });
    this.up = up;
    up.on('close', (e) => this.onClosed('upstream', e));
    const cn = up.serverProperties.get('cluster_name');
    this.upstreamCluster = cn && (cn.type === 'S' || cn.type === 's') ? String(fromFieldValue(cn)) : '';
    const down = await AmqpClient.open(this.host.connectDirect(), { user: '', pass: '', vhost: this.vhost, heartbeat: 0, clientProperties: name, capabilities: false });
    this.down = down;
    down.on('close', (e) => this.onClosed('downstream', e));

    const control = await up.channel();
    this.control = control;
    // The upstream exchange: taken as it is, or declared with the federated exchange's type,
    // non-durable, as a 3.10.8 link declares a missing one.
    await control.call({ id: M.ExchangeDeclare, args: { exchange: this.upstreamExchange, passive: true } }).catch(async (e: unknown) => {
      if (!(e instanceof ClosedError) || e.code !== 404) throw e;
      // The refused passive declare closed that channel: this one carries on as the control channel.
      const ch = await up.channel();
      await ch.call({ id: M.ExchangeDeclare, args: { exchange: this.upstreamExchange, type: this.host.typeOf(this.vhost, this.exchange) ?? 'fanout', durable: false } });
      this.control = ch;
    });
    const ctl = this.control!;
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

    const out = await down.channel();
    if (u.ackMode === 'on-confirm') {
      await out.call({ id: M.ConfirmSelect, args: {} });
      out.on('ack', (tag, multiple) => this.settle(tag, multiple, true));
      out.on('nack', (tag, multiple) => this.settle(tag, multiple, false));
    }
    const inCh = await up.channel();
    this.inCh = inCh;
    inCh.on('close', (e) => this.onClosed('upstream', e));
    out.on('close', (e) => this.onClosed('downstream', e));
    const noAck = u.ackMode === 'no-ack';
    if (!noAck) await inCh.call({ id: M.BasicQos, args: { prefetchCount: u.prefetch } });
    this.uri = uri;
    this.unconfirmed.clear();
    this.publishSeq = 0;
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
    const now = this.host.bindingsOf(this.vhost, this.exchange);
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
    const mode = this.upstream.ackMode;
    if (mode === 'on-confirm') this.unconfirmed.set(++this.publishSeq, m.deliveryTag);
    else if (mode === 'on-publish') inCh.send({ id: M.BasicAck, args: { deliveryTag: m.deliveryTag, multiple: false } });
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
    const before = headers.get('x-received-from');
    headers.set('x-received-from', { type: 'A', value: [hop, ...(before?.type === 'A' ? before.value : [])] });
    p.headers = headers;
    const w = new Writer(256);
    encodeBasicProperties(w, p);
    return w.take();
  }

  private settle(seq: number, multiple: boolean, ok: boolean): void {
    const inCh = this.inCh;
    for (const [s, tag] of this.unconfirmed) {
      if (s > seq) break;
      if (!multiple && s !== seq) continue;
      this.unconfirmed.delete(s);
      inCh?.send(ok ? { id: M.BasicAck, args: { deliveryTag: tag, multiple: false } } : { id: M.BasicNack, args: { deliveryTag: tag, multiple: false, requeue: true } });
    }
  }

  private onClosed(end: 'upstream' | 'downstream', e: ClosedError): void {
    if (this.stopped || this.status !== 'running') return;
    this.log.warn({ code: e.code, reason: e.message }, `federation link's ${end} closed`);
    this.enter('starting');
    void this.disconnect().then(() => this.start());
  }

  private async disconnect(): Promise<void> {
    if (this.sync) clearInterval(this.sync);
    this.sync = null;
    const ends = [this.up, this.down];
    this.up = this.down = null;
    this.control = this.inCh = null;
    await Promise.all(ends.map((c) => c?.close()));
  }
}
