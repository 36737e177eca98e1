// A small AMQP 0-9-1 client on the broker's own codec (src/frames), for what shovels and federation links do with a
// broker: log in (PLAIN), open channels, declare and bind, consume, publish with confirms, ack. It
// runs over any byte stream: a TCP or TLS socket to another broker, or a direct connection to this
// one (Broker.connectDirect). amqplib is a test client only and never part of the server.
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  CommandAssembler,
  FRAME_HEARTBEAT,
  FrameParser,
  M,
  PROTOCOL_HEADER,
  ReplyCode,
  Writer,
  writeBodyFrames,
  writeHeaderFrame,
  writeHeartbeat,
  writeMethodFrame,
  joinBody,
  type Command,
  type FieldTable,
  type Method,
  type MethodInit,
} from '../frames/index.js';

export interface ClientOptions {
  user: string;
  pass: string;
  vhost: string;
  /** Seconds; 0: none. */
  heartbeat: number;
  clientProperties: FieldTable;
  /** Announce the client's capabilities (a direct connection, as RabbitMQ's, does not). */
  capabilities: boolean;
}

/** A message as a consumer gets it: properties in wire form (flags and list), the body whole. */
export interface Delivery {
  deliveryTag: number;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  properties: Buffer;
  body: Buffer;
}

/** Why a connection or channel ended: the peer's close, or the stream's end. */
export class ClosedError extends Error {
  constructor(
    readonly code: number,
    text: string,
  ) {
    super(text);
  }
}

const MAX_FRAME = 131072;
/** Largest body taken from a source broker (RabbitMQ's own max_message_size ceiling, 512 MiB). */
const MAX_BODY = 512 * 1024 * 1024;

/** What each synchronous request is answered with. */
const REPLY: ReadonlyMap<number, number> = new Map([
  [M.ChannelOpen, M.ChannelOpenOk],
  [M.ChannelClose, M.ChannelCloseOk],
  [M.QueueDeclare, M.QueueDeclareOk],
  [M.QueueBind, M.QueueBindOk],
  [M.BasicQos, M.BasicQosOk],
  [M.BasicConsume, M.BasicConsumeOk],
  [M.BasicCancel, M.BasicCancelOk],
  [M.ConfirmSelect, M.ConfirmSelectOk],
  [M.ExchangeDeclare, M.ExchangeDeclareOk],
  [M.ExchangeDelete, M.ExchangeDeleteOk],
  [M.ExchangeBind, M.ExchangeBindOk],
  [M.ExchangeUnbind, M.ExchangeUnbindOk],
  [M.QueueDelete, M.QueueDeleteOk],
]);

export class ClientChannel extends EventEmitter<{
  deliver: [Delivery];
  ack: [number, boolean];
  nack: [number, boolean];
  close: [ClosedError];
}> {
  readonly assembler = new CommandAssembler(MAX_BODY);
  private waiting: { reply: number; resolve: (m: Method) => void; reject: (e: Error) => void } | null = null;
  private queue: (() => void)[] = [];
  closed: ClosedError | null = null;

  constructor(
    readonly client: AmqpClient,
    readonly id: number,
  ) {
    super();
  }

  /** Sends a synchronous method and resolves with its answer; one at a time, in order. */
  call(m: MethodInit): Promise<Method> {
    return new Promise<Method>((resolve, reject) => {
      const send = (): void => {
        if (this.closed) return reject(this.closed);
        this.waiting = { reply: REPLY.get(m.id)!, resolve, reject };
        this.client.send(this.id, m);
      };
      if (this.waiting) this.queue.push(send);
      else send();
    });
  }

  /** Sends an asynchronous method (basic.ack). */
  send(m: MethodInit): void {
    if (!this.closed) this.client.send(this.id, m);
  }

  publish(exchange: string, routingKey: string, properties: Buffer, body: Buffer): void {
    if (this.closed) return;
    this.client.sendContent(this.id, { id: M.BasicPublish, args: { exchange, routingKey } }, properties, body);
  }

  onCommand(c: Command): void {
    const m = c.method;
    switch (m.id) {
      case M.BasicDeliver:
        this.emit('deliver', { ...m.args, properties: c.properties!, body: bodyBuffer(c) });
        return;
      case M.BasicAck:
        this.emit('ack', m.args.deliveryTag, m.args.multiple);
        return;
      case M.BasicNack:
        this.emit('nack', m.args.deliveryTag, m.args.multiple);
        return;
      case M.ChannelClose:
        this.client.send(this.id, { id: M.ChannelCloseOk, args: {} });
        this.end(new ClosedError(m.args.replyCode, m.args.replyText));
        return;
      case M.BasicCancel:
        // The queue went (deleted): the consumer is gone, as a closed channel would leave it.
        this.end(new ClosedError(ReplyCode.NotFound, `consumer ${m.args.consumerTag} cancelled by the broker`));
        return;
    }
    // Our own channel.close answered: the channel is gone.
    if (m.id === M.ChannelCloseOk) this.client.channels.delete(this.id);
    const w = this.waiting;
    if (w && w.reply === m.id) {
      this.waiting = null;
      w.resolve(m);
      this.queue.shift()?.();
    }
  }

  end(e: ClosedError): void {
    if (this.closed) return;
    this.closed = e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
    for (const send of this.queue.splice(0)) send();
    this.client.channels.delete(this.id);
    this.emit('close', e);
  }
}

function bodyBuffer(c: Command): Buffer {
  return c.body ? joinBody(c.body) : Buffer.alloc(0);
}

export class AmqpClient extends EventEmitter<{ close: [ClosedError] }> {
  readonly channels = new Map<number, ClientChannel>();
  private readonly out = new Writer(64 * 1024, 2048);
  private flushing = false;
  private frameMax = MAX_FRAME;
  private nextChannel = 1;
  private lastRead = Date.now();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  closed: ClosedError | null = null;
  private handshake: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private readonly parser: FrameParser;
  private readonly control = new CommandAssembler(MAX_BODY);
  /** connection.start's server properties (the other broker's product, version, capabilities). */
  serverProperties: FieldTable = new Map();

  private constructor(
    private readonly stream: Duplex,
    private readonly options: ClientOptions,
  ) {
    super();
    this.parser = new FrameParser(MAX_FRAME, (type, ch, b, start, end) => this.onFrame(type, ch, b, start, end));
    stream.on('data', (chunk: Buffer) => {
      this.lastRead = Date.now();
      try {
        this.parser.push(chunk);
      } catch (e) {
        this.fail(new ClosedError(ReplyCode.FrameError, e instanceof Error ? e.message : String(e)));
      }
    });
    stream.on('error', (e) => this.fail(new ClosedError(0, e.message)));
    stream.on('close', () => this.fail(new ClosedError(0, 'connection closed')));
  }

  /** Logs in and opens the vhost on an already connected stream; rejects with why it could not. */
  static async open(stream: Duplex, options: ClientOptions): Promise<AmqpClient> {
    const c = new AmqpClient(stream, options);
    await new Promise<void>((resolve, reject) => {
      c.handshake = { resolve, reject };
      stream.write(PROTOCOL_HEADER);
    });
    return c;
  }

  async channel(): Promise<ClientChannel> {
    if (this.closed) throw this.closed;
    const ch = new ClientChannel(this, this.nextChannel++);
    this.channels.set(ch.id, ch);
    await ch.call({ id: M.ChannelOpen, args: {} });
    return ch;
  }

  send(channel: number, m: MethodInit): void {
    writeMethodFrame(this.out, channel, m);
    this.scheduleFlush();
  }

  sendContent(channel: number, m: MethodInit, properties: Buffer, body: Buffer): void {
    writeMethodFrame(this.out, channel, m);
    writeHeaderFrame(this.out, channel, body.length, properties);
    writeBodyFrames(this.out, channel, body, this.frameMax);
    this.scheduleFlush();
  }

  /** connection.close, then the stream; resolves once it is gone (or after a second). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.send(0, { id: M.ConnectionClose, args: { replyCode: ReplyCode.Success, replyText: 'OK', classId: 0, methodId: 0 } });
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.stream.destroy();
        resolve();
      }, 1000);
      this.once('close', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Writes what this tick produced in one write, as the server's FrameWriter does. */
  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      if (this.out.length > 0 && !this.stream.destroyed) this.stream.write(this.out.take());
    });
  }

  private onFrame(type: number, channel: number, b: Buffer, start: number, end: number): void {
    if (type === FRAME_HEARTBEAT) return;
    if (channel === 0) {
      const c = this.control.push(type, b, start, end);
      if (c) this.onControl(c.method);
      return;
    }
    const ch = this.channels.get(channel);
    if (!ch) return;
    const c = ch.assembler.push(type, b, start, end);
    if (c) ch.onCommand(c);
  }

  private onControl(m: Method): void {
    const o = this.options;
    switch (m.id) {
      case M.ConnectionStart: {
        this.serverProperties = m.args.serverProperties;
        const response = Buffer.from(`\0${o.user}\0${o.pass}`, 'utf8');
        const caps = new Map([
          ['publisher_confirms', { type: 't' as const, value: true }],
          ['consumer_cancel_notify', { type: 't' as const, value: true }],
          ['basic.nack', { type: 't' as const, value: true }],
          ['authentication_failure_close', { type: 't' as const, value: true }],
        ]);
        const props: FieldTable = new Map(o.clientProperties);
        if (o.capabilities) props.set('capabilities', { type: 'F', value: caps });
        this.send(0, { id: M.ConnectionStartOk, args: { clientProperties: props, mechanism: 'PLAIN', response, locale: 'en_US' } });
        return;
      }
      case M.ConnectionTune: {
        const frameMax = m.args.frameMax === 0 ? MAX_FRAME : Math.min(m.args.frameMax, MAX_FRAME);
        const heartbeat = m.args.heartbeat === 0 ? o.heartbeat : Math.min(m.args.heartbeat, o.heartbeat);
        this.frameMax = frameMax;
        this.parser.frameMax = frameMax;
        this.send(0, { id: M.ConnectionTuneOk, args: { channelMax: m.args.channelMax, frameMax, heartbeat } });
        this.send(0, { id: M.ConnectionOpen, args: { virtualHost: o.vhost } });
        if (heartbeat > 0) this.startHeartbeat(heartbeat);
        return;
      }
      case M.ConnectionOpenOk: {
        const h = this.handshake;
        this.handshake = null;
        h?.resolve();
        return;
      }
      case M.ConnectionClose:
        this.send(0, { id: M.ConnectionCloseOk, args: {} });
        this.fail(new ClosedError(m.args.replyCode, m.args.replyText));
        return;
      case M.ConnectionCloseOk:
        this.fail(new ClosedError(ReplyCode.Success, 'closed'));
        return;
      case M.ConnectionBlocked:
      case M.ConnectionUnblocked:
        return;
    }
  }

  private startHeartbeat(seconds: number): void {
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastRead > seconds * 2000) {
        this.fail(new ClosedError(0, 'missed heartbeats from the broker'));
        return;
      }
      writeHeartbeat(this.out);
      this.scheduleFlush();
    }, (seconds * 1000) / 2);
    this.heartbeatTimer.unref();
  }

  private fail(e: ClosedError): void {
    if (this.closed) return;
    this.closed = e;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    const h = this.handshake;
    this.handshake = null;
    // A refused login closes the socket before open-ok: say so, as clients do.
    h?.reject(e.code === 0 ? new ClosedError(0, `${e.message} during the handshake (wrong credentials or vhost?)`) : e);
    for (const ch of [...this.channels.values()]) ch.end(e);
    // Flushed first: connection.close-ok must reach the broker before the stream ends.
    if (this.out.length > 0 && !this.stream.destroyed) this.stream.write(this.out.take());
    this.stream.end();
    setTimeout(() => this.stream.destroy(), 1000).unref();
    this.emit('close', e);
  }
}

