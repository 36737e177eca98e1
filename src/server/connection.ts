// One client connection: the protocol header, the connection-class handshake (start, tune, open),
// channel 0, heartbeats, and routing every other frame to its channel (spec 2.2.4, 4.2).
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  AmqpError,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  FRAME_MIN_SIZE,
  FrameParser,
  M,
  PROTOCOL_HEADER,
  PROTOCOL_HEADER_0_9,
  Reader,
  ReplyCode,
  decodeMethodFrame,
  methodInfo,
  type FieldTable,
  type Method,
} from '../frames/index.js';
import { MECHANISMS, parseResponse, type Credentials } from './auth.js';
import type { Broker } from './broker.js';
import { Channel } from './channel.js';
import type { Queue, QueueOwner, Throttled } from './queue.js';
import { serverProperties } from './server-properties.js';
import type { VHost } from './vhost.js';
import { addStats } from './stats.js';
import type { EventFields } from './events.js';
import { erlangAddress } from './erlang-print.js';
import { readInto } from './socket-reads.js';
import { FrameWriter } from './writer.js';

/**
 * 'login': start-ok arrived, its credentials wait for the login gate (login-gate.ts).
 * 'closing': we sent connection.close and wait for close-ok. 'draining': close-ok was sent; the
 * client closes the socket, we only wait for that (see awaitPeerClose).
 */
type State = 'header' | 'start-ok' | 'login' | 'tune-ok' | 'open' | 'running' | 'closing' | 'draining' | 'closed';

/** The frame size written before tune-ok settles it. */
const HANDSHAKE_FRAME_MAX = 128 * 1024;
/**
 * The largest frame read before tune-ok: RabbitMQ holds a client to AMQP's minimum frame_max (4096)
 * until then, with its slack of one frame's overhead (see onTuneOk), and drops the socket on a
 * larger one (the Java client's FrameMax test sends a start-ok with 4096 bytes of client
 * properties). Warren answers 501 with a text before closing.
 */
const HANDSHAKE_READ_MAX = FRAME_MIN_SIZE + 8;
/**
 * Past this many bytes of messages waiting for the store, publishers stop being read until the
 * store's pending batch is written: the disk, not memory, absorbs a publisher faster than it.
 */
const STORE_BACKLOG_MAX = 16 * 1024 * 1024;
/** The longest a publisher stays paused by one round of flow control. */
const THROTTLE_MAX_MS = 250;
/** The user a direct connection runs as (RabbitMQ's rabbit_auth_backend_dummy user). */
export const DIRECT_USER = 'none';

/** How long a closing connection waits for close-ok, or for the client to close, before dropping the socket. */
const CLOSE_OK_TIMEOUT_MS = 3000;

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 addresses. */
export function isLoopback(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || a.startsWith('127.');
}

const connError = (code: number, text: string): AmqpError => new AmqpError(code, text, 'connection');

export class Connection implements QueueOwner, Throttled {
  readonly log: Logger;
  readonly writer: FrameWriter;
  readonly channels = new Map<number, Channel>();
  /** Exclusive queues this connection declared: deleted when it goes, however it goes. */
  readonly exclusiveQueues = new Set<Queue>();
  vhost: VHost | null = null;
  user = '';
  /** The SASL mechanism the client logged in with (PLAIN, AMQPLAIN, EXTERNAL). */
  authMechanism = '';
  clientProperties: FieldTable = new Map();
  /** Whether the client understands a server-sent basic.cancel. */
  consumerCancelNotify = false;
  channelMax = 0;
  frameMax = HANDSHAKE_FRAME_MAX;
  heartbeat = 0;
  readonly connectedAt = Date.now();
  /** Has published: such a connection is blocked while a resource alarm is raised. */
  publisher = false;
  /** Reading is paused by an alarm (connection.blocked was sent if the client understands it). */
  private blocked = false;
  private blockedNotify = false;
  /** The client asked to be told of a refused login with connection.close (else it gets silence). */
  private authFailureClose = false;
  /** Queues whose backlog has this publisher paused (publisher flow control, see queue.ts). */
  private readonly throttledBy = new Set<Queue>();
  private readPaused = false;
  /** Reading waits for the store to catch up (STORE_BACKLOG_MAX). */
  private storeWait = false;
  private throttleTimer: NodeJS.Timeout | null = null;

  private state: State = 'header';
  /** Moves to state s, keeping the broker's count of running connections. */
  private enter(s: State): void {
    if (this.state === 'running' && s !== 'running') this.broker.runningConnections--;
    else if (s === 'running' && this.state !== 'running') this.broker.runningConnections++;
    this.state = s;
  }
  private readonly parser: FrameParser;
  /**
   * The channel the previous frame went to: a publisher's frames nearly all go to one channel,
   * and the Map lookup was 1% of persistent-publish. Forgotten whenever channels changes.
   */
  private lastChannel: Channel | null = null;
  private header = Buffer.alloc(0);
  /**
   * Heartbeat looks (every half interval) in a row that found nothing read. Reads are counted
   * (recvCnt), not stamped: a Date.now() per read was on the path of every hop.
   */
  private silentLooks = 0;
  /** Socket reads (the management API's recv_cnt, as RabbitMQ counts its socket's receives). */
  recvCnt = 0;
  /** Whether the socket reads into a buffer of its own (socket-reads.ts) rather than Node's per read. */
  readonly ownReads: boolean;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private handshakeTimer: NodeJS.Timeout | null;
  private closeTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: number,
    readonly socket: Socket,
    readonly broker: Broker,
    /**
     * An in-process connection of the broker's own (a shovel's, direct-socket.ts), as RabbitMQ's
     * direct connections: user 'none', whatever credentials it sends, with every permission.
     */
    readonly direct = false,
  ) {
    this.log = broker.log.child({ conn: id });
    this.localEnd = `${socket.localAddress}:${socket.localPort}`;
    this.writer = new FrameWriter(socket, HANDSHAKE_FRAME_MAX, () => this.onWritable());
    // Body frames split across reads come in pieces, views of the reads; whole frames come as
    // ranges of the read, not views (see FrameParser).
    this.parser = new FrameParser(
      HANDSHAKE_READ_MAX,
      (t, ch, b, start, end) => {
        try {
          this.onFrame(t, ch, b, start, end);
        } catch (e) {
          this.onError(e, ch);
        }
      },
      true,
      true,
      (ch, b, m0, m1, h0, h1, b0, b1) => {
        try {
          return this.onPublish(ch, b, m0, m1, h0, h1, b0, b1);
        } catch (e) {
          this.onError(e, ch);
          return true;
        }
      },
    );
    socket.setNoDelay(true);
    // A plain TCP connection reads into a buffer of its own (socket-reads.ts); TLS and direct ones as Node gives.
    this.ownReads = readInto(socket, (chunk, len) => this.onData(chunk, len));
    if (!this.ownReads) socket.on('data', (chunk: Buffer) => this.onData(chunk, chunk.length));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => this.cleanup());
    this.handshakeTimer = setTimeout(() => {
      this.log.warn({ peer: this.peer }, 'handshake timed out');
      this.socket.destroy();
    }, broker.options.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  get peer(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** Its process id as RabbitMQ's events name it (Warren's: the node, the connection's id, 0). */
  get pid(): string {
    return `<${this.broker.nodeName}.${this.id}.0>`;
  }

  /** connection.created's fields, in 3.10.8's order (a TLS connection's ssl_* are left empty). */
  private createdFields(vhost: string): EventFields {
    const s = this.socket;
    return [
      ['user_who_performed_action', this.user],
      ['node', this.broker.nodeName],
      ['connected_at', this.connectedAt],
      ['client_properties', { terms: this.clientProperties }],
      ['channel_max', this.channelMax],
      ['frame_max', this.frameMax],
      ['timeout', this.heartbeat],
      ['vhost', vhost],
      ['user', this.user],
      ['protocol', '{0,9,1}'],
      ['ssl_hash', ''],
      ['ssl_cipher', ''],
      ['ssl_key_exchange', ''],
      ['ssl_protocol', ''],
      ['auth_mechanism', this.authMechanism],
      ['peer_cert_validity', ''],
      ['peer_cert_issuer', ''],
      ['peer_cert_subject', ''],
      ['ssl', 'encrypted' in s && s.encrypted === true],
      ['peer_host', erlangAddress(s.remoteAddress)],
      ['host', erlangAddress(s.localAddress)],
      ['peer_port', s.remotePort ?? 0],
      ['port', s.localPort ?? 0],
      ['name', this.name],
      ['pid', this.pid],
      ['type', 'network'],
    ];
  }

  /** A login's fields in user.authentication.* events (3.10.8's order). */
  private authFields(user: string): EventFields {
    const s = this.socket;
    return [
      ['ssl', 'encrypted' in s && s.encrypted === true],
      ['auth_mechanism', this.authMechanism],
      ['protocol', '{0,9,1}'],
      ['peer_port', s.remotePort ?? 0],
      ['peer_host', erlangAddress(s.remoteAddress)],
      ['connection_name', this.name],
      ['host', erlangAddress(s.localAddress)],
      ['name', user],
      ['connection_type', 'network'],
    ];
  }

  /** The connection's name as RabbitMQ gives it (the management API, metrics, trace messages). */
  get name(): string {
    // A direct connection is named as RabbitMQ names one, after the process that holds it.
    if (this.direct) return `<${this.broker.nodeName}.${this.id}.0>`;
    return `${this.peer} -> ${this.localEnd}`;
  }

  /** The local end, read while the socket is open: a closed one no longer has it (connection.closed names it). */
  private readonly localEnd: string;

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /**
   * The state as RabbitMQ's management API names it: starting (before tune), tuning, opening,
   * running, blocking (running while a resource alarm is raised: 3.10.8 shows every connection so,
   * publisher or not), closed (from connection.close, either side's, until the socket is gone:
   * 3.10.8 lists a connection it closed, waiting for close-ok, as closed).
   */
  get stateName(): 'starting' | 'tuning' | 'opening' | 'running' | 'blocking' | 'closed' {
    switch (this.state) {
      case 'header':
      case 'start-ok':
      case 'login':
        return 'starting';
      case 'tune-ok':
        return 'tuning';
      case 'open':
        return 'opening';
      case 'running':
        return this.broker.alarms.active ? 'blocking' : 'running';
      case 'closing':
      case 'draining':
      case 'closed':
        return 'closed';
    }
  }

  /** chunk[0, len) was read; it may be read over once this returns (socket-reads.ts). */
  private onData(chunk: Buffer, len: number): void {
    this.recvCnt++;
    // After close-ok everything the client still sends is dropped unread, as RabbitMQ does.
    if (this.state === 'closed' || this.state === 'draining') return;
    if (this.state === 'header') {
      chunk = this.readProtocolHeader(chunk.subarray(0, len));
      len = chunk.length;
      if (this.state === 'header' || len === 0) return;
    }
    try {
      this.parser.push(chunk, len);
    } catch (e) {
      // Only the framing itself throws here: the byte stream can no longer be trusted.
      this.parser.stopped = true;
      this.fail(e);
      this.socket.end();
    }
    if (this.publisher && this.broker.alarms.active && !this.blocked) this.block(this.broker.alarms.reasons);
    if (this.publisher && !this.storeWait && this.vhost && this.vhost.store.backlogBytes > STORE_BACKLOG_MAX) this.waitForStore();
    this.updateReading();
  }

  /** A queue this connection just published to has too deep a backlog: stop reading for now. */
  throttleBy(q: Queue): void {
    if (this.throttledBy.has(q) || this.state === 'closed') return;
    // Its own consumers' acks are what drains the queue: never stop reading those.
    if (q.consumers.some((c) => c.channel.conn === this)) return;
    this.throttledBy.add(q);
    q.throttle(this);
    // A pause never outlasts THROTTLE_MAX_MS: a connection that also consumes from the queue
    // must get its acks read, or the backlog could never drain. The next publish re-checks.
    this.throttleTimer ??= setTimeout(() => {
      this.throttleTimer = null;
      for (const t of [...this.throttledBy]) {
        t.forget(this);
        this.unthrottle(t);
      }
    }, THROTTLE_MAX_MS);
  }

  unthrottle(q: Queue): void {
    if (!this.throttledBy.delete(q) || this.throttledBy.size > 0) return;
    if (this.throttleTimer) clearTimeout(this.throttleTimer);
    this.throttleTimer = null;
    this.updateReading();
  }

  /**
   * Stops reading until the store's backlog is back under STORE_BACKLOG_MAX: it is looked at again
   * each time the store has written something (Store.progress), not once everything queued is
   * written, so the next batch fills while one is written (with flush() the disk sat idle while
   * the publisher, resumed only after the batch holding its last message, refilled the next one).
   */
  private waitForStore(): void {
    this.storeWait = true;
    const store = this.vhost!.store;
    // A failed write is the store's to report (the confirms say it); reading goes on either way.
    const check = (waited: boolean): void => {
      if (waited && this.state !== 'closed' && store.backlogBytes > STORE_BACKLOG_MAX) {
        store.progress().then(check, () => check(false));
        return;
      }
      this.storeWait = false;
      this.updateReading();
    };
    store.progress().then(check, () => check(false));
  }

  /** Reads are paused while an alarm blocks this connection, a queue throttles it or the store is behind. */
  private updateReading(): void {
    const pause = this.blocked || this.throttledBy.size > 0 || this.storeWait;
    if (pause === this.readPaused || this.state === 'closed' || this.state === 'draining') return;
    this.readPaused = pause;
    if (pause) this.socket.pause();
    else {
      this.silentLooks = 0;
      this.socket.resume();
    }
  }

  /** A resource alarm was raised or cleared broker-wide. */
  onAlarm(reasons: string[]): void {
    if (reasons.length === 0) {
      if (!this.blocked) return;
      this.blocked = false;
      if (this.blockedNotify && this.isRunning) this.writer.method(0, { id: M.ConnectionUnblocked, args: {} });
      this.updateReading();
      this.log.info({ peer: this.peer }, 'connection unblocked');
    } else if (this.publisher && !this.blocked) {
      this.block(reasons);
    }
  }

  private block(reasons: string[]): void {
    this.blocked = true;
    this.updateReading();
    if (this.blockedNotify && this.isRunning) {
      this.writer.method(0, { id: M.ConnectionBlocked, args: { reason: `low on ${reasons.join(' and ')}` } });
    }
    this.log.info({ peer: this.peer, reasons }, 'connection blocked');
  }

  /** Errors of one frame: a channel error closes that channel, anything else the connection. */
  private onError(e: unknown, channel: number): void {
    const ch = this.channels.get(channel);
    if (e instanceof AmqpError && e.scope === 'channel' && ch) ch.fail(e);
    else this.fail(e);
  }

  /** Consumes the 8-byte protocol header; returns what follows it. */
  private readProtocolHeader(chunk: Buffer): Buffer {
    const need = 8 - this.header.length;
    this.header = Buffer.concat([this.header, chunk.subarray(0, need)]);
    if (this.header.length < 8) return Buffer.alloc(0);
    if (!this.header.equals(PROTOCOL_HEADER) && !this.header.equals(PROTOCOL_HEADER_0_9)) {
      // Spec 4.2.2: answer with the header we do speak, then close.
      this.log.warn({ peer: this.peer, header: this.header.toString('hex') }, 'bad protocol header');
      this.enter('closed');
      this.socket.end(PROTOCOL_HEADER);
      return Buffer.alloc(0);
    }
    this.enter('start-ok');
    this.writer.method(0, {
      id: M.ConnectionStart,
      args: { serverProperties: serverProperties(this.broker.globalParameters.clusterName), mechanisms: Buffer.from(MECHANISMS), locales: Buffer.from('en_US') },
    });
    return chunk.subarray(need);
  }

  /** A frame whose payload is b[start, end), good only until this returns. */
  /**
   * A small publish's three frames at once (frame-parser.ts PublishCallback), on the channel the
   * previous frame was for; anything else, and a broker that tells events (onFrame runs them as
   * the user), goes frame by frame.
   */
  private onPublish(channel: number, b: Buffer, m0: number, m1: number, h0: number, h1: number, b0: number, b1: number): boolean {
    const ch = this.lastChannel;
    if (ch === null || ch.id !== channel || this.state !== 'running' || this.broker.events.on) return false;
    return ch.onPublishFrames(b, m0, m1, h0, h1, b0, b1);
  }

  private onFrame(type: number, channel: number, b: Buffer, start: number, end: number): void {
    if (type === FRAME_HEARTBEAT) {
      if (channel !== 0) throw connError(ReplyCode.UnexpectedFrame, `heartbeat frame on channel ${channel}`);
      return;
    }
    if (this.state === 'closing') {
      if (channel === 0 && type === FRAME_METHOD) this.onClosingMethod(decodeMethodFrame(new Reader(b, start, end)));
      return;
    }
    if (channel === 0) {
      if (type !== FRAME_METHOD) throw connError(ReplyCode.UnexpectedFrame, `content frame of type ${type} on channel 0`);
      const m = decodeMethodFrame(new Reader(b, start, end));
      try {
        this.onConnectionMethod(m);
      } catch (e) {
        if (e instanceof AmqpError && e.classId === 0) {
          e.classId = m.id >>> 16;
          e.methodId = m.id & 0xffff;
        }
        throw e;
      }
      return;
    }
    if (this.state !== 'running') throw connError(ReplyCode.CommandInvalid, `frame on channel ${channel} before connection.open`);
    const last = this.lastChannel;
    const ch = last !== null && last.id === channel ? last : this.channels.get(channel);
    if (ch) {
      this.lastChannel = ch;
      // What the command does, it does as this connection's user (the events' user_who_performed_action).
      const events = this.broker.events;
      if (events.on) events.as(this.user, () => ch.onFrame(type, b, start, end));
      else ch.onFrame(type, b, start, end);
      return;
    }
    if (type !== FRAME_METHOD) throw connError(ReplyCode.ChannelError, `expected 'channel.open' on channel ${channel}`);
    const m = decodeMethodFrame(new Reader(b, start, end));
    if (m.id !== M.ChannelOpen) {
      throw new AmqpError(ReplyCode.ChannelError, `expected 'channel.open' on channel ${channel}`, 'connection', m.id >>> 16, m.id & 0xffff);
    }
    if (channel > this.channelMax) {
      throw new AmqpError(ReplyCode.ChannelError, `channel number ${channel} above channel_max ${this.channelMax}`, 'connection', 20, 10);
    }
    this.broker.limits.checkChannel(this.user, () => {
      let userChannels = 0;
      for (const c of this.broker.connections) if (c.user === this.user) userChannels += c.channels.size;
      return userChannels;
    });
    this.lastChannel = null;
    const opened = new Channel(channel, this);
    this.channels.set(channel, opened);
    if (!this.direct) {
      this.broker.events.emit('channel.created', () => [
        ['user_who_performed_action', this.user],
        ['vhost', this.vhost?.name ?? ''],
        ['user', this.user],
        ['number', channel],
        ['connection', this.pid],
        ['name', `${this.name} (${channel})`],
        ['pid', opened.pid],
      ]);
    }
    this.broker.counters.channelsOpened++;
    this.writer.method(channel, { id: M.ChannelOpenOk, args: {} });
  }

  private onConnectionMethod(m: Method): void {
    switch (m.id) {
      case M.ConnectionStartOk:
        return this.onStartOk(m.args.mechanism, m.args.response, m.args.clientProperties);
      case M.ConnectionTuneOk:
        return this.onTuneOk(m.args.channelMax, m.args.frameMax, m.args.heartbeat);
      case M.ConnectionOpen:
        return this.onOpen(m.args.virtualHost);
      case M.ConnectionClose:
        this.log.debug({ code: m.args.replyCode, text: m.args.replyText }, 'client closed connection');
        this.awaitPeerClose();
        return;
      case M.ConnectionCloseOk:
        throw connError(ReplyCode.CommandInvalid, 'connection.close-ok without connection.close');
      case M.ConnectionUpdateSecret:
        this.writer.method(0, { id: M.ConnectionUpdateSecretOk, args: {} });
        return;
      case M.ConnectionBlocked:
      case M.ConnectionUnblocked:
        return; // only meaningful from server to client; RabbitMQ ignores them too
      default: {
        const info = methodInfo.get(m.id)!;
        if (info.classId === 10) throw connError(ReplyCode.CommandInvalid, `unexpected method ${info.name}`);
        throw connError(ReplyCode.ChannelError, `channel 0 is reserved for connection methods, got ${info.name}`);
      }
    }
  }

  private expect(state: State, method: string): void {
    if (this.state !== state) throw connError(ReplyCode.CommandInvalid, `unexpected ${method} in state ${this.state}`);
  }

  private onStartOk(mechanism: string, response: Buffer, clientProperties: FieldTable): void {
    this.authMechanism = mechanism;
    this.expect('start-ok', 'connection.start-ok');
    this.clientProperties = clientProperties;
    const caps = clientProperties.get('capabilities');
    if (caps?.type === 'F') {
      const ccn = caps.value.get('consumer_cancel_notify');
      this.consumerCancelNotify = ccn?.type === 't' && ccn.value;
      const cb = caps.value.get('connection.blocked');
      this.blockedNotify = cb?.type === 't' && cb.value;
      const afc = caps.value.get('authentication_failure_close');
      this.authFailureClose = afc?.type === 't' && afc.value;
    }
    // A direct connection's client (a shovel) announces no capabilities, as RabbitMQ's Erlang
    // client over a direct connection does not, yet must hear of a consumer cancelled by a deleted queue.
    if (this.direct) this.consumerCancelNotify = true;
    if (!MECHANISMS.split(' ').includes(mechanism)) {
      this.silentClose(`unknown authentication mechanism '${mechanism}'`);
      return;
    }
    // A response that names no user and password is no guess at one: it never reaches the gate.
    const creds = parseResponse(mechanism, response);
    if (!creds) {
      this.silentClose(`response ${JSON.stringify(response.toString('latin1'))} invalid`);
      return;
    }
    this.enter('login');
    if (this.direct) return this.login(mechanism, { user: DIRECT_USER, pass: '' }, '');
    const address = this.socket.remoteAddress ?? '';
    this.broker.loginGate.enter(address, () => this.login(mechanism, creds, address));
  }

  /**
   * A handshake error before the client is authenticated, as RabbitMQ answers it: no
   * connection.close, the socket held for a while and then closed, so a client doing something
   * wrong cannot retry at full speed (RabbitMQ's SILENT_CLOSE_DELAY, 3 s). Only a refused login
   * of a client that asked for one (authentication_failure_close) gets a close method.
   */
  private silentClose(reason: string): void {
    this.log.warn({ peer: this.peer, reason }, 'handshake failed, closing the socket without connection.close');
    this.enter('closing');
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_OK_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  /**
   * A refused login as rabbit_reader's auth_fail answers it, whatever the reason (a wrong
   * password, a loopback-only user from elsewhere): 403 with a text that names no reason, and only
   * to a client that asked for it (authentication_failure_close); the reason is in our log.
   */
  private refuseLogin(mechanism: string, reason: string): void {
    if (!this.authFailureClose) return this.silentClose(reason);
    this.fail(connError(ReplyCode.AccessRefused, `Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`));
  }

  /** Checks the credentials of start-ok, when the login gate lets this address have a verdict. */
  private login(mechanism: string, creds: Credentials, address: string): void {
    if (this.state !== 'login') return; // the socket went while the login waited its turn
    if (!this.direct && !this.broker.access.authenticate(creds.user, creds.pass)) {
      this.broker.counters.authFailed++;
      this.broker.events.emit('user.authentication.failure', () => [['error', { chars: `user '${creds.user}' - invalid credentials` }], ...this.authFields(creds.user)]);
      // Logged without the password.
      this.log.warn({ peer: this.peer, user: creds.user, mechanism }, 'authentication failed');
      this.broker.loginGate.refuse(address, () => this.refuseLogin(mechanism, 'authentication failed'));
      return;
    }
    if (!this.direct && this.broker.options.loopbackUsers.includes(creds.user) && !isLoopback(address)) {
      this.broker.counters.authFailed++;
      this.log.warn({ peer: this.peer, user: creds.user }, `user '${creds.user}' can only connect via localhost`);
      // The right password: no guess to slow down, so not through the gate.
      this.refuseLogin(mechanism, 'user may only connect via localhost');
      return;
    }
    this.broker.counters.authSucceeded++;
    if (!this.direct) this.broker.events.emit('user.authentication.success', () => this.authFields(creds.user));
    const opts = this.broker.options;
    this.user = creds.user;
    this.enter('tune-ok');
    this.writer.method(0, {
      id: M.ConnectionTune,
      args: { channelMax: opts.channelMax, frameMax: opts.frameMax, heartbeat: opts.heartbeat },
    });
  }

  private onTuneOk(channelMax: number, frameMax: number, heartbeat: number): void {
    this.expect('tune-ok', 'connection.tune-ok');
    const opts = this.broker.options;
    if (frameMax !== 0 && frameMax < FRAME_MIN_SIZE) {
      throw connError(ReplyCode.NotAllowed, `frame_max=${frameMax} < ${FRAME_MIN_SIZE} min size`);
    }
    if (frameMax > opts.frameMax) throw connError(ReplyCode.NotAllowed, `frame_max=${frameMax} > ${opts.frameMax} max size`);
    if (channelMax > opts.channelMax) {
      throw connError(ReplyCode.NotAllowed, `channel_max=${channelMax} > ${opts.channelMax} max size`);
    }
    this.channelMax = channelMax === 0 ? opts.channelMax : channelMax;
    this.frameMax = frameMax === 0 ? opts.frameMax : frameMax;
    // RabbitMQ reads a frame whose payload (not the whole frame) fills frame_max: one frame's
    // overhead of slack for clients that count it so.
    this.parser.frameMax = this.frameMax + 8;
    this.writer.frameMax = this.frameMax;
    this.heartbeat = heartbeat;
    this.enter('open');
    if (heartbeat > 0) this.startHeartbeat(heartbeat);
  }

  private onOpen(vhostName: string): void {
    this.expect('open', 'connection.open');
    const vhost = this.broker.vhosts.get(vhostName);
    if (!vhost) throw connError(ReplyCode.NotAllowed, `vhost ${vhostName} not found`);
    const max = this.broker.options.maxConnections;
    if (this.broker.runningConnections >= max) throw connError(ReplyCode.NotAllowed, `connection refused: node connection limit (${max}) is reached`);
    if (!this.direct && !this.broker.access.canAccessVHost(this.user, vhostName)) {
      throw connError(ReplyCode.NotAllowed, `access to vhost '${vhostName}' refused for user '${this.user}'`);
    }
    const running = (pred: (c: Connection) => boolean) => (): number => {
      let n = 0;
      for (const c of this.broker.connections) if (c.isRunning && pred(c)) n++;
      return n;
    };
    this.broker.limits.checkConnection(
      this.user,
      vhostName,
      running((c) => c.vhost === vhost),
      running((c) => c.user === this.user),
    );
    this.vhost = vhost;
    this.enter('running');
    this.broker.counters.connectionsOpened++;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.writer.method(0, { id: M.ConnectionOpenOk, args: {} });
    this.log.info({ peer: this.peer, user: this.user, vhost: vhostName }, 'connection opened');
    if (!this.direct) this.broker.events.emit('connection.created', () => this.createdFields(vhostName));
  }

  /** While we wait for close-ok, everything else is dropped (spec 2.2.4); both sides may close at once. */
  private onClosingMethod(m: Method): void {
    if (m.id === M.ConnectionCloseOk) {
      // The client has nothing more to say: end our side; the close timer still bounds the rest.
      this.enter('closed');
      this.socket.end();
    } else if (m.id === M.ConnectionClose) {
      this.awaitPeerClose();
    }
  }

  /**
   * The client asked to close: answer close-ok, release what the connection holds, and leave
   * closing the socket to the client. Closing it ourselves at once resets a client still writing
   * (EPIPE, ECONNRESET), and through a TCP proxy that error reaches the application. A client that
   * never closes loses the socket after CLOSE_OK_TIMEOUT_MS.
   */
  private awaitPeerClose(): void {
    this.writer.method(0, { id: M.ConnectionCloseOk, args: {} });
    this.writer.flush();
    this.enter('draining');
    this.parser.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.releaseChannels();
    // Reading on: a paused socket would never see the client's FIN.
    if (this.readPaused) {
      this.readPaused = false;
      this.socket.resume();
    }
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_OK_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  /**
   * Looks every half interval: a peer silent for two intervals (four looks in a row found nothing
   * read, so 2 to 2.5 intervals of silence) is dead (spec 4.2.7); a heartbeat goes out when nothing
   * was written since the last look. RabbitMQ's heartbeaters also watch the socket's counters.
   */
  private startHeartbeat(seconds: number): void {
    let recvSeen = this.recvCnt;
    let sendsSeen = this.writer.sends;
    this.heartbeatTimer = setInterval(() => {
      // A connection we stopped reading cannot be judged by what it sends.
      if (this.recvCnt !== recvSeen || this.readPaused) this.silentLooks = 0;
      else if (++this.silentLooks >= 4) {
        this.log.warn({ peer: this.peer, heartbeat: seconds }, 'missed heartbeats from client, closing connection');
        this.socket.destroy();
        return;
      }
      recvSeen = this.recvCnt;
      if (this.writer.sends === sendsSeen) this.writer.heartbeat();
      sendsSeen = this.writer.sends;
    }, seconds * 500);
    this.heartbeatTimer.unref();
  }

  /** Closes the connection for an error: a protocol error with its code, anything else as 541. */
  fail(e: unknown): void {
    if (e instanceof AmqpError) {
      this.close(e.code, e.replyText, e.classId, e.methodId);
      return;
    }
    this.log.error({ err: e }, 'internal error');
    this.close(ReplyCode.InternalError, 'INTERNAL_ERROR', 0, 0);
  }

  /** Server-initiated close: send connection.close, drop everything but close-ok, then the socket. */
  close(code: number, text: string, classId = 0, methodId = 0): void {
    if (this.state === 'closing' || this.state === 'draining' || this.state === 'closed') return;
    const level = code === ReplyCode.ConnectionForced ? 'info' : 'warn';
    this.log[level]({ peer: this.peer, code, text }, 'closing connection');
    if (this.state === 'header') {
      this.enter('closed');
      this.socket.destroy();
      return;
    }
    this.enter('closing');
    this.writer.method(0, { id: M.ConnectionClose, args: { replyCode: code, replyText: text, classId, methodId } });
    this.writer.flush();
    this.releaseChannels();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_OK_TIMEOUT_MS);
    this.closeTimer.unref();
  }

  private channelClosed(ch: Channel): void {
    if (!this.direct) this.broker.events.emit('channel.closed', () => [['user_who_performed_action', this.user], ['pid', ch.pid]]);
  }

  closeChannel(ch: Channel): void {
    this.lastChannel = null;
    if (this.channels.delete(ch.id)) {
      this.channelClosed(ch);
      this.broker.counters.channelsClosed++;
      if (this.vhost) addStats(this.vhost.pastStats, ch.messageStats);
    }
  }

  private onWritable(): void {
    for (const ch of this.channels.values()) ch.resumeDeliveries();
  }

  private releaseChannels(): void {
    for (const ch of this.channels.values()) {
      ch.release();
      this.channelClosed(ch);
      if (this.vhost) addStats(this.vhost.pastStats, ch.messageStats);
    }
    this.broker.counters.channelsClosed += this.channels.size;
    this.channels.clear();
    this.lastChannel = null;
    for (const q of this.exclusiveQueues) q.vhost.deleteQueue(q);
    this.exclusiveQueues.clear();
  }

  private cleanup(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.heartbeatTimer = this.handshakeTimer = this.closeTimer = null;
    for (const q of this.throttledBy) q.forget(this);
    this.throttledBy.clear();
    if (this.throttleTimer) clearTimeout(this.throttleTimer);
    this.throttleTimer = null;
    const wasOpen = this.state !== 'closed' || this.vhost !== null;
    this.enter('closed');
    this.releaseChannels();
    // 3.10.8 tells of every connection that got as far as start-ok, a refused login's too.
    if (this.broker.connections.has(this) && !this.direct && this.authMechanism !== '') {
      this.broker.events.emit('connection.closed', () => [
        ['client_properties', { terms: this.clientProperties }],
        ['node', this.broker.nodeName],
        ['pid', this.pid],
        ['name', this.name],
      ]);
    }
    if (this.broker.connections.delete(this) && wasOpen && this.vhost) {
      this.broker.counters.connectionsClosed++;
      this.vhost.pastRecvOct += this.socket.bytesRead;
      this.vhost.pastSendOct += this.socket.bytesWritten;
      this.log.info({ peer: this.peer }, 'connection closed');
    }
  }
}
