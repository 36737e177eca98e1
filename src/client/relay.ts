// What a shovel and a federation link share: they consume from one broker and republish to
// another (or to this one), so both keep two connections, start again after a delay when either
// fails, and ack each source message once the destination confirmed it (ack-mode on-confirm),
// once published (on-publish), or never (no-ack). A stop waits a little for the confirms of what
// was already forwarded, so the source does not deliver those messages again.
import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { M, type FieldValue } from '../frames/index.js';
import { AmqpClient, type ClientChannel, type ClosedError } from './amqp-client.js';
import { dial } from './dial.js';
import type { AmqpUri } from './uri.js';

export type AckMode = 'no-ack' | 'on-publish' | 'on-confirm';

/** What a relay needs of the broker it runs in (the Broker itself). */
export interface RelayHost {
  /** An in-process connection to this broker (amqp:// with no host), and the broker's name for it. */
  connectDirect(): Duplex & { readonly connectionName: string };
  readonly clusterName: string;
  readonly log: Logger;
}

/** How long a stop waits for the destination's confirms of what was forwarded. */
const STOP_WAIT_MS = 5000;

export abstract class Relay {
  /** running, starting (connecting, or waiting to connect again), or error (federation: why it failed). */
  status: 'starting' | 'running' | 'error' = 'starting';
  error: string | null = null;
  /** When the status last changed. */
  since = new Date();
  protected stopped = false;
  /** The broker's name for its last direct connection (a federation link's local_connection). */
  localConnection = '';
  /** Both ends while connected (the source first). */
  protected ends: AmqpClient[] = [];
  /** The source channel that consumes: acks go there. */
  protected inCh: ClientChannel | null = null;
  /** Destination publish seq → source delivery tag, in publish order (on-confirm). */
  protected readonly unconfirmed = new Map<number, number>();
  private publishSeq = 0;
  private retry: NodeJS.Timeout | null = null;
  private drained: (() => void) | null = null;

  protected constructor(
    protected readonly log: Logger,
    private readonly ackMode: AckMode,
    /** Seconds between a failure and the next attempt. */
    private readonly reconnectDelay: number,
    /** The status a failed attempt shows while it waits: 3.10.8's shovels say starting, its links error. */
    private readonly failedStatus: 'starting' | 'error',
  ) {}

  /** Connects both ends, declares what it needs and starts consuming (the status is then running). */
  protected abstract connect(): Promise<void>;

  /**
   * Opens one end: one of the URIs at random (as RabbitMQ picks), in-process for amqp:// with no
   * host, in vhost when the URI names none. A close of it while running ends the run.
   */
  protected async open(uris: AmqpUri[], end: string, connectionName: string, vhost: string, connectDirect: RelayHost['connectDirect']): Promise<[AmqpClient, AmqpUri]> {
    const uri = uris[Math.floor(Math.random() * uris.length)]!;
    const name: FieldValue = { type: 'S', value: Buffer.from(connectionName) };
    let stream: Duplex;
    if (uri.direct) {
      const direct = connectDirect();
      this.localConnection = direct.connectionName;
      stream = direct;
    } else stream = await dial(uri);
    const client = await AmqpClient.open(stream, {
      user: uri.user,
      pass: uri.pass,
      vhost: uri.vhost ?? vhost,
      heartbeat: uri.direct ? 0 : uri.heartbeat,
      clientProperties: new Map([['connection_name', name]]),
      capabilities: !uri.direct,
    });
    this.ends.push(client);
    client.on('close', (e) => this.onEndClosed(end, e));
    return [client, uri];
  }

  /**
   * The destination channel (in confirm mode for on-confirm) and the source channel (with the
   * prefetch, unless no-ack), either of which closing ends the run: [source, destination].
   */
  protected async channels(src: AmqpClient, dest: AmqpClient, prefetch: number, names: [string, string]): Promise<[ClientChannel, ClientChannel]> {
    const out = await dest.channel();
    if (this.ackMode === 'on-confirm') {
      await out.call({ id: M.ConfirmSelect, args: {} });
      this.confirmOn(out);
    }
    const inCh = await src.channel();
    this.inCh = inCh;
    // A channel the broker closes (a queue deleted, a refused publish) ends the run, as a connection's end does.
    inCh.on('close', (e) => this.onEndClosed(names[0], e));
    out.on('close', (e) => this.onEndClosed(names[1], e));
    if (this.ackMode !== 'no-ack') await inCh.call({ id: M.BasicQos, args: { prefetchCount: prefetch } });
    return [inCh, out];
  }

  /** Once both ends are gone (timers of its own to clear). */
  protected onDisconnect(): void {}

  /** After the destination settled publishes (a shovel's delete-after checks whether it is done). */
  protected onSettled(): void {}

  protected enter(s: Relay['status'], error: string | null = null): void {
    this.status = s;
    this.error = error;
    this.since = new Date();
  }

  /** Connects, or on failure waits reconnect-delay and tries again. */
  protected async start(): Promise<void> {
    if (this.stopped) return;
    this.enter('starting');
    try {
      this.unconfirmed.clear();
      this.publishSeq = 0;
      await this.connect();
      if (this.stopped) await this.disconnect();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.log.warn({ err: why }, 'could not start');
      await this.disconnect();
      this.scheduleRetry(why);
    }
  }

  private scheduleRetry(why: string): void {
    if (this.stopped || this.retry) return;
    this.enter(this.failedStatus, this.failedStatus === 'error' ? why : null);
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.start();
    }, this.reconnectDelay * 1000);
    this.retry.unref();
  }

  /** Drops both ends and connects again at once (restart_shovel, restart_federation_link). */
  restart(): void {
    if (this.stopped) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    void this.disconnect().then(() => this.start());
  }

  /**
   * Stops it. What the destination has not confirmed yet is waited for (up to STOP_WAIT_MS); nothing
   * more is forwarded meanwhile (later deliveries go back to the source when its channel closes).
   * cleanup runs last, while the ends are still open (a link deletes its upstream objects).
   */
  stop(): Promise<void> {
    return this.halt();
  }

  /** stop(), with cleanup (see above). */
  protected async halt(cleanup?: () => Promise<void>): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    const dest = this.ends[1];
    if (this.unconfirmed.size > 0 && dest && !dest.closed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, STOP_WAIT_MS);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    if (cleanup) await cleanup().catch(() => undefined);
    await this.disconnect();
  }

  /** Either end, or a channel of it, closed while running: drop both, and start again later. */
  protected onEndClosed(end: string, e: ClosedError): void {
    if (this.stopped || this.status !== 'running') return;
    this.log.warn({ code: e.code, reason: e.message }, `${end} closed`);
    void this.disconnect().then(() => this.scheduleRetry(e.message));
  }

  /** A message was published to the destination: remember it until confirmed, or ack it now. */
  protected forwarded(inCh: ClientChannel, deliveryTag: number): void {
    if (this.ackMode === 'on-confirm') this.unconfirmed.set(++this.publishSeq, deliveryTag);
    else if (this.ackMode === 'on-publish') inCh.send({ id: M.BasicAck, args: { deliveryTag, multiple: false } });
  }

  /** Listens for the destination channel's confirms (after confirm.select). */
  private confirmOn(out: ClientChannel): void {
    out.on('ack', (tag, multiple) => this.settle(tag, multiple, true));
    out.on('nack', (tag, multiple) => this.settle(tag, multiple, false));
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
    this.onSettled();
  }

  protected async disconnect(): Promise<void> {
    // Its own closing of the ends must not read as a failure (onEndClosed looks for running).
    if (this.status === 'running') this.enter('starting');
    const ends = this.ends;
    this.ends = [];
    this.inCh = null;
    this.onDisconnect();
    await Promise.all(ends.map((c) => c.close()));
  }
}
