// One channel: its methods (spec classes channel, queue, basic, confirm), its consumers, the
// deliveries awaiting ack, and publisher confirms. Channel errors close just this channel.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  AmqpError,
  BasicPropertyFlag,
  decodeBasicProperties,
  Reader,
  CommandAssembler,
  DeliverFrame,
  FIELD_TYPE_NAMES,
  bodyLength,
  fromFieldValue,
  FRAME_METHOD,
  M,
  ReplyCode,
  methodInfo,
  type Body,
  type Command,
  type FieldTable,
  type Method,
  type MethodInit,
} from '../frames/index.js';
import type { PermissionKind } from './access.js';
import { ConfirmTracker } from './confirms.js';
import type { GlobalCounters } from './global-counters.js';
import { linkedStats, type MessageStats } from './stats.js';
import type { Connection } from './connection.js';
import { Consumer } from './consumer.js';
import { Message, checkExpiration, scanProperties, senderSelected, withDeliveryCount, type Entry, type PropertyScan } from './message.js';
import { stripCrLf } from './names.js';
import { REPLY_TO, REPLY_TO_PREFIX, wantsDirectReply, withReplyTo, type ReplyReceiver } from './direct-reply-to.js';
import { checkAlternateExchangeArg, Exchange, INTERNAL_USER } from './exchanges/exchange.js';
import { checkExchangeEquivalent } from './exchanges/equivalent.js';
import { validateHeadersBinding } from './exchanges/headers.js';
import { checkBindingKey, checkExchangeArguments, isExchangeType, unknownExchangeTypeText } from './exchanges/types.js';
import type { Queue } from './queue.js';
import { checkEquivalent } from './queue-args.js';
import { checkServerNamed, deleteRefusal } from './queue-types/index.js';
import { parseStreamOffset, type StreamStart } from './stream-log.js';
import { UnackedMap, type Unacked } from './unacked.js';
import { ackTimeoutText, coarseClock, SWEEP_MS } from './consumer-timeout.js';
import { IdleWatch } from './idle-since.js';
import type { VHost } from './vhost.js';
import type { TraceOrigin } from './firehose.js';


interface HeldPublish {
  exchange: string;
  routingKey: string;
  mandatory: boolean;
  properties: Buffer;
  body: Body;
}

type Settlement = 'ack' | 'requeue' | 'drop';

/** How RabbitMQ names a queue in its stream refusals: queue 's' in vhost '/'. */
const queueRef = (q: Queue): string => `queue '${q.name}' in vhost '${q.vhost.name}'`;
const chError = (code: number, text: string): AmqpError => new AmqpError(code, text, 'channel');

/** An error a command threw, naming that command's class and method unless it names one already. */
function naming(e: unknown, methodId: number): unknown {
  if (e instanceof AmqpError && e.classId === 0) {
    e.classId = methodId >>> 16;
    e.methodId = methodId & 0xffff;
  }
  return e;
}

/** RabbitMQ 3.10.8's refusal of a consumer on a queue someone consumes exclusively (or that it wanted to itself). */
const exclusiveUse = (q: Queue): AmqpError => chError(ReplyCode.AccessRefused, `${queueRef(q)} in exclusive use`);

/** RabbitMQ's server-generated names: a prefix and 22 url-safe random characters. */
const generatedName = (prefix: string): string => prefix + randomBytes(16).toString('base64url');

export class Channel implements ReplyReceiver {
  readonly log: Logger;
  readonly consumers = new Map<string, Consumer>();
  private readonly assembler: CommandAssembler;
  private readonly unacked = new UnackedMap();
  /** The shortest x-consumer-timeout of the queues this channel took deliveries from (Infinity: none). */
  private timeoutFloor = Infinity;
  private nextTag = 1;
  private state: 'open' | 'closing' | 'closed' = 'open';
  /** basic.qos global=false: the window of consumers started from now on. */
  private prefetchCount = 0;
  /** basic.qos global=true: one window shared by all of the channel's consumers. */
  private globalPrefetch = 0;
  /** Which consumer's queue resumeDeliveries asks first next time. */
  private resumeFrom = 0;
  private consumerUnacked = 0;
  private confirms: ConfirmTracker | null = null;
  /** The confirms a channel closed by its client still owes before its close-ok. */
  private draining: ConfirmTracker | null = null;
  /** Replies held back until the store has written what they acknowledge, keeping reply order. */
  private replyChain: Promise<void> | null = null;
  /** While this channel deletes a queue: the basic.cancels for its own consumers of it (deleteQueue). */
  private heldCancels: MethodInit[] | null = null;
  /** basic.gets waiting in the reply chain for a page of their queue to come back from the store. */
  private waitingGets = 0;
  private lastQueue = '';
  /** Direct reply-to: the consumer tag and routing name of this channel's reply consumer. */
  private reply_: { tag: string; name: string } | null = null;
  /** tx.select: publishes and acks held until tx.commit. */
  private tx: { publishes: HeldPublish[]; acks: { taken: Unacked[]; how: Settlement }[] } | null = null;
  private readonly vhost: VHost;
  private readonly stats: MessageStats;
  private readonly counters: GlobalCounters;
  /** Has published at least once: a publisher, as RabbitMQ counts them (rabbitmq_global_publishers). */
  publishing = false;
  /** This channel's own message counters (the API's channel message_stats). */
  readonly messageStats: MessageStats;
  /**
   * The broker's, that stats counts into as well: the hot counters (publish, deliver) add to both
   * directly, where stats' accessors were 1.3% of a publish flood.
   */
  private readonly brokerStats: MessageStats;
  /** Exchanges this channel may publish to, already checked (RabbitMQ caches these per channel too). */
  private readonly writable = new Set<string>();
  /** The exchange of the latest publish, found and permitted (exchangeForPublish). */
  private lastExchange: Exchange | null = null;
  private readonly scan: PropertyScan = { deliveryMode: 0, headerBytes: 0, replyToAt: -1 };
  /** The property list scan holds the scan of. */
  private scanned: Buffer | null = null;
  /** This channel as trace messages name it (firehose.ts), made for the first one. */
  private tracedAs: TraceOrigin | null = null;
  /** Frames received and deliveries sent: counted, not stamped, for the API's idle_since (idle-since.ts). */
  work = 0;
  readonly idle = new IdleWatch();

  constructor(
    readonly id: number,
    readonly conn: Connection,
  ) {
    this.log = conn.log.child({ channel: id });
    this.vhost = conn.vhost!;
    const linked = linkedStats(conn.broker.stats);
    this.stats = linked.counting;
    this.messageStats = linked.own;
    this.brokerStats = conn.broker.stats;
    this.counters = conn.broker.counters;
    // Large bodies go into pool slabs, given back once acked (frames/body-pool.ts, Message.recycle).
    this.assembler = new CommandAssembler(conn.broker.options.maxMessageSize, true);
  }

  private get traceOrigin(): TraceOrigin {
    return (this.tracedAs ??= { connectionName: this.conn.name, channel: this.id, user: this.conn.user });
  }

  /** A frame whose payload is b[start, end), good only until this returns. */
  onFrame(type: number, b: Buffer, start: number, end: number): void {
    this.work++;
    if (this.state !== 'open') {
      // After channel.close only close and close-ok mean anything (spec 4.2.6 / 2.2.4).
      if (type === FRAME_METHOD) {
        const cmd = this.assembler.push(type, b, start, end);
        if (cmd?.method.id === M.ChannelCloseOk) this.conn.closeChannel(this);
        else if (cmd?.method.id === M.ChannelClose) this.send({ id: M.ChannelCloseOk, args: {} });
        this.assembler.reset();
      }
      return;
    }
    const cmd = this.assembler.push(type, b, start, end);
    if (!cmd) return;
    try {
      this.onCommand(cmd);
    } catch (e) {
      throw naming(e, cmd.method.id);
    }
  }

  /**
   * A small publish whole (frame-parser.ts PublishCallback): what onFrame does for its three
   * frames, in one call. False when the channel or the frames are not the plain case: onFrame
   * then takes them one by one.
   */
  onPublishFrames(b: Buffer, m0: number, m1: number, h0: number, h1: number, b0: number, b1: number): boolean {
    // A transaction holds its publishes, and immediate is refused: both as onCommand does it.
    if (this.state !== 'open' || this.tx !== null) return false;
    this.work++;
    const asm = this.assembler;
    const properties = asm.publishFrames(b, m0, m1, h0, h1, b0, b1);
    if (properties === null) return false;
    const a = asm.publishArgs;
    if (a.immediate) return false;
    try {
      this.publish(a.exchange, a.routingKey, a.mandatory, properties, asm.publishBody(b, b0, b1));
    } catch (e) {
      throw naming(e, M.BasicPublish);
    }
    return true;
  }

  get unackedCount(): number {
    return this.unacked.size;
  }
  /** The deliveries of queue q this channel holds unacked, consumer c's if given (a cluster's queues keep track of them). */
  unackedOf(q: Queue, c?: Consumer): Entry[] {
    const out: Entry[] = [];
    for (const u of this.unacked.values()) if (u.queue === q && (c === undefined || u.consumer === c)) out.push(u.entry);
    return out;
  }
  get prefetch(): number {
    return this.prefetchCount;
  }
  get prefetchGlobal(): number {
    return this.globalPrefetch;
  }
  get confirmMode(): boolean {
    return this.confirms !== null;
  }
  get transactional(): boolean {
    return this.tx !== null;
  }
  /** Publishes in confirm mode not yet confirmed. */
  get unconfirmedCount(): number {
    return this.confirms?.pending ?? 0;
  }
  /** Publishes and acks held in the open transaction. */
  get uncommitted(): { messages: number; acks: number } {
    if (!this.tx) return { messages: 0, acks: 0 };
    return { messages: this.tx.publishes.length, acks: this.tx.acks.reduce((n, a) => n + a.taken.length, 0) };
  }

  /**
   * Closes the channel (406) when a delivery has waited for its ack longer than its queue's
   * consumer timeout (consumer-timeout.ts). Deliveries are in the order they went out, so only
   * those older than the shortest timeout that can apply are looked at.
   */
  checkAckTimeout(now: number, globalMs: number): void {
    if (this.unacked.size === 0 || this.state !== 'open') return;
    const floor = Math.min(globalMs > 0 ? globalMs : Infinity, this.timeoutFloor);
    if (floor === Infinity) return;
    for (const u of this.unacked.values()) {
      // A stamp may be up to SWEEP_MS behind the real delivery time: count from the latest it can be.
      const age = now - u.at - SWEEP_MS;
      if (age < floor) return;
      const timeout = u.queue.args.consumerTimeout ?? globalMs;
      if (timeout > 0 && age >= timeout) {
        this.log.warn({ consumerTag: u.consumer?.tag ?? null, timeoutMs: timeout }, 'consumer timed out waiting for delivery acknowledgement');
        this.fail(chError(ReplyCode.PreconditionFailed, ackTimeoutText(this.id, timeout)));
        return;
      }
    }
  }

  /** Closes the channel for a channel-level error (spec 1.5.2.5: channel.close with the code). */
  fail(e: AmqpError): void {
    if (this.state !== 'open') return;
    this.log.warn({ code: e.code, text: e.replyText }, 'closing channel');
    this.assembler.reset();
    this.state = 'closing';
    this.send({ id: M.ChannelClose, args: { replyCode: e.code, replyText: e.replyText, classId: e.classId, methodId: e.methodId } });
    this.release();
  }

  private send(m: MethodInit): void {
    if (this.state === 'closed') return;
    this.conn.writer.method(this.id, m);
  }

  private readonly sendNow = (m: MethodInit): void => this.send(m);

  /**
   * channel.close from the client: deliveries stop at once, the confirms still owed go out (once
   * the store has the messages they confirm), then close-ok. Nothing for this channel follows
   * close-ok: a client that has forgotten the channel would fail on it (amqplib throws).
   */
  private closeByClient(): void {
    const confirms = this.confirms;
    this.confirms = null; // release() would stop it: its outstanding confirms are still owed
    this.release();
    const finish = (): void => {
      this.draining = null;
      confirms?.stop();
      // The connection may have closed meanwhile, taking the channel with it.
      if (this.conn.channels.get(this.id) !== this) return;
      this.send({ id: M.ChannelCloseOk, args: {} });
      this.state = 'closed';
      this.conn.closeChannel(this);
    };
    this.draining = confirms;
    if (confirms) confirms.drain(finish);
    else finish();
  }

  /** Sends a synchronous reply behind any reply still waiting for the store. */
  private reply(m: MethodInit | null, then?: () => void): void {
    if (!this.replyChain) {
      if (m) this.send(m);
      then?.();
      return;
    }
    this.afterStore(m, then, false);
  }

  /** Sends a reply once everything written to the store so far is durable. */
  private afterStore(m: MethodInit | null, then: (() => void) | undefined, flush: boolean | 'definitions' = true, before?: Promise<void>): void {
    const store = this.vhost.store;
    const written = (): Promise<void> | undefined => (flush === 'definitions' && store.flushDefinitions ? store.flushDefinitions() : flush ? store.flush() : undefined);
    this.chain(
      before ? () => before.then(written) : written,
      () => {
        if (m) this.send(m);
        then?.();
      },
    );
  }

  /** Runs then (while the channel is open) after every earlier reply and after wait resolves. */
  private chain(wait: () => Promise<void> | undefined, then: () => void): void {
    const mine = (this.replyChain ?? Promise.resolve()).then(wait).then(
      () => {
        if (this.state !== 'open') return;
        try {
          then();
        } catch (err) {
          // Outside the command handler's try: a throw here must not become an unhandled rejection.
          this.log.error({ err }, 'deferred reply failed');
          this.conn.close(ReplyCode.InternalError, 'INTERNAL_ERROR');
        }
      },
      (err: unknown) => {
        this.log.error({ err }, 'store write failed');
        this.conn.close(ReplyCode.InternalError, 'INTERNAL_ERROR - store write failed');
      },
    );
    this.replyChain = mine;
    void mine.then(() => {
      if (this.replyChain === mine) this.replyChain = null;
    });
  }

  private onCommand(cmd: Command): void {
    const m: Method = cmd.method;
    switch (m.id) {
      case M.BasicPublish: {
        const a = m.args;
        // RabbitMQ dropped immediate delivery in 3.0 and refuses it before looking at anything else.
        if (a.immediate) throw new AmqpError(ReplyCode.NotImplemented, 'immediate=true', 'connection');
        if (this.tx) {
          this.permitTopic(this.exchangeForPublish(a.exchange), 'write', a.routingKey); // a missing exchange or a refused key fails now, as in RabbitMQ
          // So does a user_id that is not the publisher's.
          const p = cmd.properties!;
          if (p.length >= 2 && p.readUInt16BE(0) & BasicPropertyFlag.userId) this.checkUserId(decodeBasicProperties(new Reader(p, 0, p.length)).userId ?? '');
          this.tx.publishes.push({ exchange: a.exchange, routingKey: a.routingKey, mandatory: a.mandatory, properties: cmd.properties!, body: cmd.body! });
          return;
        }
        return this.publish(a.exchange, a.routingKey, a.mandatory, cmd.properties!, cmd.body!);
      }
      case M.BasicAck:
        return this.settleLater(this.take(m.args.deliveryTag, m.args.multiple), 'ack');
      case M.BasicNack:
        return this.settleLater(this.refuseOnStream(this.take(m.args.deliveryTag, m.args.multiple)), m.args.requeue ? 'requeue' : 'drop');
      case M.BasicReject:
        return this.settleLater(this.refuseOnStream(this.take(m.args.deliveryTag, false)), m.args.requeue ? 'requeue' : 'drop');
      case M.BasicQos:
        return this.qos(m.args.prefetchSize, m.args.prefetchCount, m.args.global);
      case M.BasicConsume:
        return this.consume(m.args.queue, m.args.consumerTag, m.args.noAck, m.args.exclusive, m.args.nowait, m.args.arguments);
      case M.BasicCancel:
        return this.cancel(m.args.consumerTag, m.args.nowait);
      case M.BasicGet:
        return this.get(m.args.queue, m.args.noAck);
      case M.BasicRecover:
        this.recover(m.args.requeue);
        return this.reply({ id: M.BasicRecoverOk, args: {} });
      case M.BasicRecoverAsync:
        return this.recover(m.args.requeue);
      case M.QueueDeclare: {
        const a = m.args;
        return this.declareQueue(stripCrLf(a.queue), a.passive, a.durable, a.exclusive, a.autoDelete, a.nowait, a.arguments);
      }
      case M.QueuePurge:
        return this.purge(m.args.queue, m.args.nowait);
      case M.QueueDelete:
        return this.deleteQueue(stripCrLf(m.args.queue), m.args.ifUnused, m.args.ifEmpty, m.args.nowait);
      case M.QueueBind: {
        const a = m.args;
        return this.bindQueue(stripCrLf(a.queue), stripCrLf(a.exchange), a.routingKey, a.arguments, a.nowait);
      }
      case M.QueueUnbind: {
        const a = m.args;
        return this.unbindQueue(stripCrLf(a.queue), stripCrLf(a.exchange), a.routingKey, a.arguments);
      }
      case M.ExchangeDeclare: {
        const a = m.args;
        return this.declareExchange(stripCrLf(a.exchange), a.type, a.passive, a.durable, a.autoDelete, a.internal, a.nowait, a.arguments);
      }
      case M.ExchangeDelete:
        return this.deleteExchange(stripCrLf(m.args.exchange), m.args.ifUnused, m.args.nowait);
      case M.ExchangeBind: {
        const a = m.args;
        return this.bindExchange(stripCrLf(a.destination), stripCrLf(a.source), a.routingKey, a.arguments, a.nowait, true);
      }
      case M.ExchangeUnbind: {
        const a = m.args;
        return this.bindExchange(stripCrLf(a.destination), stripCrLf(a.source), a.routingKey, a.arguments, a.nowait, false);
      }
      case M.TxSelect:
        if (this.confirms) throw chError(ReplyCode.PreconditionFailed, 'cannot switch from confirm to tx mode');
        this.tx ??= { publishes: [], acks: [] };
        return this.reply({ id: M.TxSelectOk, args: {} });
      case M.TxCommit:
        return this.commit();
      case M.TxRollback:
        return this.rollback();
      case M.ConfirmSelect:
        if (this.tx) throw chError(ReplyCode.PreconditionFailed, 'cannot switch from tx to confirm mode');
        this.confirms ??= new ConfirmTracker(this.sendNow, (hurry, waitForAcks) => this.vhost.store.flush(hurry, waitForAcks), this.stats);
        if (!m.args.nowait) this.reply({ id: M.ConfirmSelectOk, args: {} });
        return;
      case M.ChannelClose:
        return this.closeByClient();
      case M.ChannelCloseOk:
        return; // not closing: RabbitMQ ignores a stray close-ok too
      case M.ChannelOpen:
        throw new AmqpError(ReplyCode.ChannelError, "second 'channel.open' seen", 'connection');
      case M.ChannelFlow:
        if (!m.args.active) throw new AmqpError(ReplyCode.NotImplemented, 'active=false', 'connection');
        return this.reply({ id: M.ChannelFlowOk, args: { active: true } });
      case M.AccessRequest:
        return this.reply({ id: M.AccessRequestOk, args: { ticket: 1 } });
      default: {
        const info = methodInfo.get(m.id)!;
        if (info.classId === 10) {
          throw new AmqpError(ReplyCode.ChannelError, `connection method ${info.name} on channel ${this.id}`, 'connection');
        }
        throw new AmqpError(ReplyCode.NotImplemented, `${info.name} is not implemented`, 'connection');
      }
    }
  }

  // ---- queues -------------------------------------------------------------------------------

  /** Throws 403 unless the user's permissions on this vhost allow kind on the resource. */
  private permit(kind: PermissionKind, type: 'queue' | 'exchange', name: string): void {
    const resource = type === 'exchange' && name === '' ? 'amq.default' : name;
    if (!this.conn.direct && !this.conn.broker.access.permits(this.conn.user, this.vhost.name, kind, resource)) {
      throw chError(
        ReplyCode.AccessRefused,
        `access to ${type} '${resource}' in vhost '${this.vhost.name}' refused for user '${this.conn.user}'`,
      );
    }
  }

  /**
   * RabbitMQ's topic authorisation: on a topic exchange, the routing key of a publish (write) or
   * of a binding made or removed with it as source (read) must match the user's topic permission
   * for that exchange, when there is one.
   */
  private permitTopic(exchange: Exchange | undefined, kind: 'write' | 'read', routingKey: string): void {
    const access = this.conn.broker.access;
    if (!access.topicRestricted || exchange?.type !== 'topic' || this.conn.direct) return;
    if (!access.permitsTopic(this.conn.user, this.vhost.name, exchange.name, kind, routingKey)) {
      throw chError(
        ReplyCode.AccessRefused,
        `access to topic '${routingKey}' in exchange '${exchange.name}' in vhost '${this.vhost.name}' refused for user '${this.conn.user}'`,
      );
    }
  }

  /** Finds a queue the connection may use, or throws 404 / 405 as RabbitMQ does. */
  /** RabbitMQ: an empty queue name means the queue last declared on the channel. */
  private queueNamed(name: string): string {
    return name === '' ? this.lastQueue : name;
  }

  private queueFor(name: string): Queue {
    const q = this.vhost.queues.get(this.queueNamed(name));
    if (!q) throw chError(ReplyCode.NotFound, `no queue '${name}' in vhost '${this.vhost.name}'`);
    this.checkExclusive(q);
    return q;
  }

  private checkExclusive(q: Queue): void {
    if (q.exclusiveOwner && q.exclusiveOwner !== this.conn) throw this.locked(q);
  }

  private locked(q: Queue): AmqpError {
    return chError(
      ReplyCode.ResourceLocked,
      `cannot obtain exclusive access to locked queue '${q.name}' in vhost '${this.vhost.name}'. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
    );
  }

  private declareQueue(
    name: string,
    passive: boolean,
    durable: boolean,
    exclusive: boolean,
    autoDelete: boolean,
    nowait: boolean,
    args: FieldTable,
  ): void {
    // rabbit_channel: an exclusive queue is never durable, whatever the declare says (so a
    // redeclare with the other durable flag is equivalent, and the queue shows durable false).
    durable &&= !exclusive;
    // The vhost's default queue type, where RabbitMQ applies it (default-queue-type.ts).
    if (!passive) args = this.vhost.declareArgs(durable, exclusive, autoDelete, args);
    const generated = name === '' && !passive;
    if (generated) {
      checkServerNamed(this.vhost.name, args);
      name = generatedName('amq.gen-');
    }
    else if (name === '' && passive) name = this.lastQueue;
    if (passive && (name === REPLY_TO || (name.startsWith(REPLY_TO_PREFIX) && this.vhost.replies.lookup(name)))) {
      // The direct reply-to pseudo-queue exists for passive declares, always empty.
      if (!nowait) this.reply({ id: M.QueueDeclareOk, args: { queue: name, messageCount: 0, consumerCount: 0 } });
      return;
    }
    let q = this.vhost.queues.get(name);
    if (passive) {
      if (!q) throw chError(ReplyCode.NotFound, `no queue '${name}' in vhost '${this.vhost.name}'`);
      this.checkExclusive(q);
      q.touch();
    } else if (q) {
      this.permit('configure', 'queue', name);
      this.checkExclusive(q);
      if (exclusive !== (q.exclusiveOwner !== null)) throw this.locked(q);
      checkEquivalent(q, this.vhost.name, durable, autoDelete, args);
      q.touch();
    } else {
      this.permit('configure', 'queue', name);
      if (!generated && name.startsWith('amq.')) {
        throw chError(ReplyCode.AccessRefused, `queue name '${name}' contains reserved prefix 'amq.*'`);
      }
      // rabbit_channel's check_dlx, for a new queue: its dead letters are read from it and written
      // to the exchange (a DLX that is not a string is refused by checkNewQueue, in its own words).
      const dlx = args.get('x-dead-letter-exchange');
      if (dlx?.type === 'S') {
        this.permit('read', 'queue', name);
        this.permit('write', 'exchange', dlx.value.toString('utf8'));
      }
      this.conn.broker.limits.checkQueue(this.vhost.name, name, this.vhost.queues.size);
      q = this.vhost.addQueue({ name, durable, exclusiveOwner: exclusive ? this.conn : null, autoDelete, arguments: args });
      if (exclusive) this.conn.exclusiveQueues.add(q);
    }
    this.lastQueue = name;
    if (!passive) this.counters.queuesDeclared++;
    const counts = { queue: name, messageCount: q.messageCount, consumerCount: q.consumerCount };
    const ok: MethodInit = { id: M.QueueDeclareOk, args: counts };
    // Counts another node keeps (the queue's owner in a cluster) are asked for first, and written
    // into the reply when they come, in its turn among the channel's replies.
    const queue = q;
    const fresh = nowait ? undefined : queue.freshCounts()?.then(() => {
      counts.messageCount = queue.messageCount;
      counts.consumerCount = queue.consumerCount;
    });
    if (passive) {
      if (nowait) return;
      if (fresh) this.chain(() => fresh, () => this.send(ok));
      else this.reply(ok);
    } else this.replyDurable(durable && !exclusive, nowait, ok, undefined, fresh);
  }

  private purge(name: string, nowait: boolean): void {
    // Permission before existence, as RabbitMQ checks: a user without it learns nothing of the queue.
    this.permit('read', 'queue', this.queueNamed(name));
    const q = this.queueFor(name);
    if (q.stream) throw new AmqpError(ReplyCode.NotImplemented, `queue.purge not supported by stream queues ${queueRef(q)}`, 'connection');
    const elsewhere = q.purgeElsewhere();
    if (elsewhere) {
      // Its count comes from the node that purged, written in its turn among the channel's replies.
      const counted = { messageCount: 0 };
      const done = elsewhere.then((n) => void (counted.messageCount = n));
      if (!nowait) this.chain(() => done, () => this.send({ id: M.QueuePurgeOk, args: counted }));
      return;
    }
    const count = q.purge();
    if (!nowait) this.reply({ id: M.QueuePurgeOk, args: { messageCount: count } });
  }

  private deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, nowait: boolean): void {
    const qname = this.queueNamed(name);
    // Permission first, as RabbitMQ: a queue that is not there is refused too (Java client's Permissions test).
    this.permit('configure', 'queue', qname);
    const q = this.vhost.queues.get(qname);
    if (!q) {
      // RabbitMQ answers delete-ok for a queue that is not there: deleting is idempotent.
      if (!nowait) this.reply({ id: M.QueueDeleteOk, args: { messageCount: 0 } });
      return;
    }
    this.checkExclusive(q);
    const refused = deleteRefusal(q.type, q.name, this.vhost.name, ifUnused, ifEmpty);
    if (refused) throw new AmqpError(ReplyCode.NotImplemented, refused, 'connection');
    // Counts another node keeps (the owner in a cluster) are asked for first: the if-unused and
    // if-empty checks and the delete-ok's count go by them, as RabbitMQ's queue process answers.
    const fresh = q.freshCounts();
    if (!fresh) return this.deleteCounted(q, ifUnused, ifEmpty, nowait);
    this.chain(
      () => fresh,
      () => {
        if (q.deleted) return void (nowait || this.send({ id: M.QueueDeleteOk, args: { messageCount: 0 } }));
        try {
          this.deleteCounted(q, ifUnused, ifEmpty, nowait);
        } catch (err) {
          if (!(err instanceof AmqpError) || err.scope === 'connection') throw err;
          err.classId = M.QueueDelete >>> 16;
          err.methodId = M.QueueDelete & 0xffff;
          this.fail(err);
        }
      },
    );
  }

  private deleteCounted(q: Queue, ifUnused: boolean, ifEmpty: boolean, nowait: boolean): void {
    if (ifUnused && q.consumerCount > 0) {
      throw chError(ReplyCode.PreconditionFailed, `queue '${q.name}' in vhost '${this.vhost.name}' in use`);
    }
    q.dispatchPending();
    if (ifEmpty && q.readyCount > 0) {
      throw chError(ReplyCode.PreconditionFailed, `queue '${q.name}' in vhost '${this.vhost.name}' not empty`);
    }
    // This channel's own consumers of the queue hear of it after the delete-ok, in the same write,
    // as from RabbitMQ 3.10.8 (its channel answers the delete, then handles the queue's notices:
    // one writev, delete-ok first). A client that closes the channel once its consumer is
    // cancelled then still has its delete answered (amqplib's "cancelled consumer" test).
    const held: MethodInit[] = [];
    this.heldCancels = held;
    let count: number;
    try {
      count = this.vhost.deleteQueue(q);
    } finally {
      this.heldCancels = null;
    }
    if (q.exclusiveOwner === this.conn) this.conn.exclusiveQueues.delete(q);
    const ok: MethodInit = { id: M.QueueDeleteOk, args: { messageCount: count } };
    this.replyDurable(q.durable && !q.exclusiveOwner, nowait, ok, held.length > 0 ? () => held.forEach((m) => this.send(m)) : undefined);
  }

  // ---- exchanges and bindings ---------------------------------------------------------------

  private exchangeNamed(name: string): Exchange {
    const e = this.vhost.exchanges.get(name);
    if (!e) throw chError(ReplyCode.NotFound, `no exchange '${name}' in vhost '${this.vhost.name}'`);
    return e;
  }

  private notDefault(name: string): void {
    if (name === '' || name === 'amq.default') {
      throw chError(ReplyCode.AccessRefused, `operation not permitted on the default exchange`);
    }
  }

  /**
   * Replies once the store has what it acknowledges, when that is durable, or in a cluster, whose
   * nodes share transient queues, exchanges and bindings too (then every node has it).
   */
  /** then: runs right after the reply (in its write), or in its place with nowait. */
  /** before: what the reply waits for too (its content filled in then). */
  private replyDurable(durable: boolean, nowait: boolean, ok: MethodInit, then?: () => void, before?: Promise<void>): void {
    if (durable || this.vhost.store.sharesTransient) this.afterStore(nowait ? null : ok, then, 'definitions', before);
    else if (before) this.afterStore(nowait ? null : ok, then, false, before);
    else this.reply(nowait ? null : ok, then);
  }

  private declareExchange(
    name: string,
    type: string,
    passive: boolean,
    durable: boolean,
    autoDelete: boolean,
    internal: boolean,
    nowait: boolean,
    args: FieldTable,
  ): void {
    const ok: MethodInit = { id: M.ExchangeDeclareOk, args: {} };
    // RabbitMQ refuses any declare of the default exchange, passive ones included.
    this.notDefault(name);
    if (passive) {
      this.exchangeNamed(name);
      if (!nowait) this.reply(ok);
      return;
    }
    if (!isExchangeType(type)) throw new AmqpError(ReplyCode.CommandInvalid, unknownExchangeTypeText(type), 'connection');
    // RabbitMQ checks configure before looking the exchange up, so a redeclare needs it too.
    this.permit('configure', 'exchange', name);
    const existing = this.vhost.exchanges.get(name);
    if (existing) {
      checkExchangeEquivalent(existing, this.vhost.name, { type, durable, autoDelete, internal, arguments: args });
      if (!nowait) this.reply(ok);
      return;
    }
    if (name.startsWith('amq.')) {
      throw chError(ReplyCode.AccessRefused, `exchange name '${name}' contains reserved prefix 'amq.*'`);
    }
    checkAlternateExchangeArg(name, this.vhost.name, args);
    const refused = checkExchangeArguments(type, args);
    if (refused !== undefined) throw chError(ReplyCode.PreconditionFailed, refused);
    // As for a DLX: what the new exchange cannot route is read from it and written to its alternate.
    const ae = args.get('alternate-exchange');
    if (ae?.type === 'S') {
      this.permit('read', 'exchange', name);
      this.permit('write', 'exchange', ae.value.toString('utf8'));
    }
    this.vhost.addExchange({ name, type, durable, autoDelete, internal, arguments: args, user: this.conn.user });
    this.replyDurable(durable, nowait, ok);
  }

  /** rabbit_channel's order: the default exchange, any amq.* name (there or not), configure, then the lookup. */
  private deleteExchange(name: string, ifUnused: boolean, nowait: boolean): void {
    this.notDefault(name);
    if (name.startsWith('amq.')) {
      throw chError(ReplyCode.AccessRefused, `deletion of system exchange '${name}' in vhost '${this.vhost.name}' not allowed`);
    }
    this.permit('configure', 'exchange', name);
    const ok: MethodInit = { id: M.ExchangeDeleteOk, args: {} };
    const e = this.vhost.exchanges.get(name);
    if (!e) {
      if (!nowait) this.reply(ok);
      return;
    }
    if (ifUnused && e.bindings.size > 0) {
      throw chError(ReplyCode.PreconditionFailed, `exchange '${name}' in vhost '${this.vhost.name}' in use`);
    }
    this.vhost.deleteExchange(e);
    this.replyDurable(e.durable, nowait, ok);
  }

  private bindQueue(queueName: string, exchangeName: string, routingKey: string, args: FieldTable, nowait: boolean): void {
    // RabbitMQ's order: permissions, then the exchange, then the queue (a user without access
    // learns nothing of what exists; with both missing the exchange is named).
    const name = this.queueNamed(queueName);
    if (name !== '') this.permit('write', 'queue', name);
    this.notDefault(exchangeName);
    this.permit('read', 'exchange', exchangeName);
    const e = this.exchangeNamed(exchangeName);
    const q = this.queueFor(queueName);
    // RabbitMQ: an empty routing key with an empty queue name means the last declared queue's name.
    const key = queueName === '' && routingKey === '' ? q.name : routingKey;
    this.permitTopic(e, 'read', key);
    if (e.type === 'headers') validateHeadersBinding(args);
    this.checkBindingKey(e, key);
    const durable = this.vhost.addBinding(e, q, key, args);
    this.replyDurable(durable, nowait, { id: M.QueueBindOk, args: {} });
  }

  /** Unbinding what is not there is not an error (RabbitMQ 3.x): only the access checks apply. */
  private unbindQueue(queueName: string, exchangeName: string, routingKey: string, args: FieldTable): void {
    const name = this.queueNamed(queueName);
    if (name === '') this.queueFor(name); // no queue declared on this channel yet: 404, as before
    this.notDefault(exchangeName);
    this.permit('write', 'queue', name);
    this.permit('read', 'exchange', exchangeName);
    const q = this.vhost.queues.get(name);
    if (q) this.checkExclusive(q);
    const e = this.vhost.exchanges.get(exchangeName);
    this.permitTopic(e, 'read', routingKey);
    const b = q && e ? this.vhost.findBinding(e, q, routingKey, args) : undefined;
    if (b) this.vhost.removeBinding(b);
    this.replyDurable(b !== undefined && e!.durable && q!.durable, false, { id: M.QueueUnbindOk, args: {} });
  }

  private bindExchange(destName: string, sourceName: string, routingKey: string, args: FieldTable, nowait: boolean, bind: boolean): void {
    this.notDefault(destName);
    this.notDefault(sourceName);
    if (!bind) return this.unbindExchange(destName, sourceName, routingKey, args, nowait);
    this.permit('write', 'exchange', destName);
    this.permit('read', 'exchange', sourceName);
    const source = this.exchangeNamed(sourceName);
    const dest = this.exchangeNamed(destName);
    this.permitTopic(source, 'read', routingKey);
    if (source.type === 'headers') validateHeadersBinding(args);
    this.checkBindingKey(source, routingKey);
    const durable = this.vhost.addBinding(source, dest, routingKey, args);
    this.replyDurable(durable, nowait, { id: M.ExchangeBindOk, args: {} });
  }

  private checkBindingKey(source: Exchange, routingKey: string): void {
    const refused = checkBindingKey(source.type, routingKey, source.arguments);
    if (refused !== undefined) throw chError(ReplyCode.PreconditionFailed, refused);
  }

  /** As for queues: a missing binding, source or destination still answers unbind-ok. */
  private unbindExchange(destName: string, sourceName: string, routingKey: string, args: FieldTable, nowait: boolean): void {
    this.permit('write', 'exchange', destName);
    this.permit('read', 'exchange', sourceName);
    const dest = this.vhost.exchanges.get(destName);
    const source = this.vhost.exchanges.get(sourceName);
    this.permitTopic(source, 'read', routingKey);
    const b = dest && source ? this.vhost.findBinding(source, dest, routingKey, args) : undefined;
    if (b) this.vhost.removeBinding(b);
    this.replyDurable(b !== undefined && source!.durable && dest!.durable, nowait, { id: M.ExchangeUnbindOk, args: {} });
  }

  // ---- publishing ---------------------------------------------------------------------------

  private exchangeForPublish(name: string): Exchange {
    // A publisher sends to one exchange again and again, under the same string (the assembler
    // reuses it): the Set and Map lookups below were 2.7% of a publish-only flood. An exchange
    // is only ever taken out of the vhost's map by deleteExchange, which marks it deleted.
    const last = this.lastExchange;
    if (last !== null && name === last.name && !last.deleted) return last;
    // Permission before existence, as RabbitMQ checks.
    if (!this.writable.has(name)) {
      this.permit('write', 'exchange', name);
      this.writable.add(name);
    }
    const exchange = this.exchangeNamed(name);
    if (exchange.internal) {
      throw chError(ReplyCode.AccessRefused, `cannot publish to internal exchange '${name}' in vhost '${this.vhost.name}'`);
    }
    this.lastExchange = exchange;
    return exchange;
  }

  private publish(exchangeName: string, routingKey: string, mandatory: boolean, properties: Buffer, body: Body): void {
    const exchange = this.exchangeForPublish(exchangeName);
    this.permitTopic(exchange, 'write', routingKey);
    this.conn.publisher = true;
    this.conn.writer.requestReply.answered = true;
    this.publishing = true;
    const counters = this.counters;
    counters.receivedBody(bodyLength(body));
    if (this.confirms) counters.receivedConfirm++;
    // The assembler hands on the same Buffer for the same property list (never written to), so
    // the previous publish's scan holds for it.
    const scan = this.scan;
    if (properties !== this.scanned) {
      this.scanned = null; // (a throw leaves scan half written)
      scanProperties(properties, scan);
      this.scanned = properties;
    }
    const persistent = scan.deliveryMode === 2;
    let msg = new Message(this.vhost.nextSeq(), exchangeName, routingKey, properties, body, persistent);
    if (scan.replyToAt >= 0 && wantsDirectReply(msg, scan.replyToAt)) {
      if (!this.reply_) throw chError(ReplyCode.PreconditionFailed, 'fast reply consumer does not exist');
      msg = new Message(msg.seq, exchangeName, routingKey, withReplyTo(msg, this.reply_.name), body, persistent);
    }
    if (msg.has(BasicPropertyFlag.userId)) this.checkUserId(msg.decoded().userId ?? '');
    if (exchange === this.vhost.defaultExchange && routingKey.startsWith(REPLY_TO_PREFIX)) {
      return this.publishReply(msg, mandatory);
    }
    if (msg.has(BasicPropertyFlag.expiration)) checkExpiration(msg.decoded().expiration ?? '');
    let ccKeys: string[] | undefined;
    if (scan.headerBytes > 0) {
      // Sender-selected distribution: CC and BCC headers add routing keys; BCC is not delivered.
      const selected = senderSelected(msg);
      if (selected) ({ msg, keys: ccKeys } = selected);
    }
    const { routed, persisted, confirmCopies, refused, overloaded, verdicts } = this.vhost.publish(exchange, msg, ccKeys, this.vhost.firehose ? this.traceOrigin : undefined);
    for (const q of overloaded) this.conn.throttleBy(q);
    this.messageStats.publish++;
    this.brokerStats.publish++;
    if (routed > 0) counters.routed++;
    else if (mandatory) this.returnUnroutable(msg);
    else {
      counters.unroutableDropped++;
      this.stats.dropUnroutable++;
    }
    if (this.confirms) {
      const seq = this.confirms.next();
      if (refused) {
        this.confirms.settle(seq, false);
      } else if (verdicts.length > 0) {
        // A queue on another node of a cluster says later whether its x-overflow took the message.
        const confirms = this.confirms;
        void Promise.all(verdicts).then((oks) => {
          if (oks.includes(false)) confirms.settle(seq, false);
          else if (persisted) confirms.settleAfterStore(seq);
          else confirms.settle(seq, true);
        });
      } else if (confirmCopies > 0) {
        this.confirms.settleAfterStoreOrQueues(seq, confirmCopies, msg);
      } else if (persisted) {
        this.confirms.settleAfterStore(seq);
      } else if (routed === 0) {
        this.confirms.ackNow(seq);
      } else {
        this.confirms.settle(seq, true);
      }
    }
  }

  /**
   * RabbitMQ's validated user id: a message's user_id must name the user who publishes it, unless
   * that user is tagged impersonator (or the connection is the broker's own, a shovel's).
   */
  private checkUserId(claimed: string): void {
    const user = this.conn.user;
    if (claimed === user || this.conn.direct || this.conn.broker.access.users.get(user)?.tags.includes('impersonator')) return;
    throw chError(ReplyCode.PreconditionFailed, `user_id property set to '${claimed}' but authenticated user was '${user}'`);
  }

  /** A reply to a direct reply-to name goes to its channel, or nowhere if that has gone. */
  private publishReply(msg: Message, mandatory: boolean): void {
    // Traced as 3.10.8 traces it: a publish routed to no queue, and no delivery.
    if (this.vhost.firehose) this.vhost.firehose.published(this.traceOrigin, '', msg, undefined, []);
    const receiver = this.vhost.replies.lookup(msg.routingKey);
    if (receiver) {
      this.counters.routed++;
      receiver.deliverReply(msg.routingKey, msg);
    } else if (mandatory) this.returnUnroutable(msg);
    else {
      this.counters.unroutableDropped++;
      this.stats.dropUnroutable++;
    }
    if (this.confirms) this.confirms.settle(this.confirms.next(), true);
  }

  private returnUnroutable(msg: Message): void {
    this.stats.returnUnroutable++;
    this.counters.unroutableReturned++;
    this.conn.writer.content(
      this.id,
      { id: M.BasicReturn, args: { replyCode: ReplyCode.NoRoute, replyText: 'NO_ROUTE', exchange: msg.exchange, routingKey: msg.routingKey } },
      msg.properties,
      msg.content,
    );
  }

  // ---- consuming ----------------------------------------------------------------------------

  private qos(prefetchSize: number, prefetchCount: number, global: boolean): void {
    if (prefetchSize !== 0) throw new AmqpError(ReplyCode.NotImplemented, `prefetch_size!=0 (${prefetchSize})`, 'connection');
    if (global) {
      this.globalPrefetch = prefetchCount;
      this.resumeDeliveries();
    } else {
      this.prefetchCount = prefetchCount;
    }
    this.reply({ id: M.BasicQosOk, args: {} });
  }

  private consume(queueName: string, tag: string, noAck: boolean, exclusive: boolean, nowait: boolean, args: FieldTable): void {
    if (queueName === REPLY_TO) return this.consumeReplies(tag, noAck, nowait);
    const name = this.queueNamed(queueName);
    if (name !== '') this.permit('read', 'queue', name); // before existence, as RabbitMQ
    const q = this.queueFor(queueName);
    const p = args.get('x-priority');
    let priority = 0;
    if (p !== undefined) {
      if (!['b', 'B', 's', 'u', 'I', 'i', 'l'].includes(p.type)) {
        throw chError(ReplyCode.PreconditionFailed, `invalid arg 'x-priority' for ${queueRef(q)}: "expected integer, got ${FIELD_TYPE_NAMES[p.type]}"`);
      }
      priority = Number(fromFieldValue(p));
    }
    // Only a stream reads from an offset (3.10.8 refuses it on the other types).
    if (q.type.name !== 'stream' && args.has('x-stream-offset')) {
      throw chError(ReplyCode.PreconditionFailed, `invalid arg 'x-stream-offset' for ${queueRef(q)} of queue type ${q.type.module}`);
    }
    if (tag === '') tag = generatedName('amq.ctag-');
    else if (this.consumers.has(tag)) {
      throw new AmqpError(ReplyCode.NotAllowed, `attempt to reuse consumer tag '${tag}'`, 'connection');
    }
    if (q.inExclusiveUse(exclusive)) throw exclusiveUse(q);
    // RabbitMQ 3.10.8 closes the connection with 540 when a channel with a global prefetch
    // consumes from a quorum queue.
    if (this.globalPrefetch !== 0 && q.type.refusesGlobalQos) {
      throw new AmqpError(ReplyCode.NotImplemented, `queue '${q.name}' in vhost '${this.vhost.name}' does not support global qos`, 'connection');
    }
    let start: StreamStart | undefined;
    if (q.stream) {
      // RabbitMQ 3.10.8: a stream consumer must acknowledge (else 540 on the connection) and must
      // have a prefetch of its own (a global one does not count; else 406 on the channel).
      // The prefetch is checked first (no-ack without a prefetch: 406).
      if (this.prefetchCount === 0) throw chError(ReplyCode.PreconditionFailed, `consumer prefetch count is not set for '${queueRef(q)}'`);
      if (noAck) throw new AmqpError(ReplyCode.NotImplemented, `automatic acknowledgement not supported by stream queues ${queueRef(q)}`, 'connection');
      start = parseStreamOffset(q.name, this.vhost.name, args);
    }
    const c = new Consumer(tag, this, q, noAck, exclusive, this.prefetchCount, priority, start);
    this.consumers.set(tag, c);
    // The queue learns of the consumer only once consume-ok is on its way, so no delivery precedes it.
    const ok: MethodInit | null = nowait ? null : { id: M.BasicConsumeOk, args: { consumerTag: tag } };
    const join = (): void => {
      if (this.consumers.get(tag) !== c || q.deleted) return;
      q.addConsumer(c);
      const events = this.conn.broker.events;
      events.emit('consumer.created', () => [
        ['user_who_performed_action', events.who],
        ['arguments', { terms: args }],
        ['prefetch_count', c.prefetch],
        ['queue', q.name],
        ['vhost', this.vhost.name],
        ['channel', this.pid],
        ['ack_required', !noAck],
        ['exclusive', exclusive],
        ['consumer_tag', tag],
      ]);
    };
    // A queue owned by another node of a cluster: its owner sees every node's consumers.
    const verdict = q.consumeVerdict(exclusive);
    if (!verdict) return this.reply(ok, join);
    let allowed = true;
    this.chain(
      () => verdict.then((v) => void (allowed = v)),
      () => {
        if (!allowed) return this.refuseConsumer(c);
        if (ok) this.send(ok);
        join();
      },
    );
  }

  /** Its process id as RabbitMQ's events name it (Warren's: the node, its connection's id, its number). */
  get pid(): string {
    return `<${this.conn.broker.nodeName}.${this.conn.id}.${this.id}>`;
  }

  private consumerDeleted(c: Consumer): void {
    this.vhost.consumerDeleted(c, this.pid);
  }

  /** Consumer c may not consume after all (see ConsumerHost.refuseConsumer): 403, as basic.consume. */
  refuseConsumer(c: Consumer): void {
    if (this.consumers.get(c.tag) !== c) return;
    this.consumers.delete(c.tag);
    const e = exclusiveUse(c.queue);
    e.classId = M.BasicConsume >>> 16;
    e.methodId = M.BasicConsume & 0xffff;
    this.fail(e);
  }

  private consumeReplies(tag: string, noAck: boolean, nowait: boolean): void {
    if (!noAck) throw chError(ReplyCode.PreconditionFailed, 'reply consumer cannot acknowledge');
    if (this.reply_) throw chError(ReplyCode.PreconditionFailed, 'reply consumer already set');
    if (tag === '') tag = generatedName('amq.ctag-');
    else if (this.consumers.has(tag)) throw new AmqpError(ReplyCode.NotAllowed, `attempt to reuse consumer tag '${tag}'`, 'connection');
    this.reply_ = { tag, name: this.vhost.replies.register(this) };
    if (!nowait) this.reply({ id: M.BasicConsumeOk, args: { consumerTag: tag } });
  }

  /** A reply published to this channel's direct reply-to name: delivered at once, without ack. */
  deliverReply(routingKey: string, msg: Message): void {
    if (!this.reply_ || this.state !== 'open') return;
    this.conn.writer.content(
      this.id,
      {
        id: M.BasicDeliver,
        args: { consumerTag: this.reply_.tag, deliveryTag: this.nextTag++, redelivered: false, exchange: msg.exchange, routingKey },
      },
      msg.properties,
      msg.content,
    );
  }

  private cancelReplies(): void {
    if (!this.reply_) return;
    this.vhost.replies.unregister(this.reply_.name);
    this.reply_ = null;
  }

  private cancel(tag: string, nowait: boolean): void {
    if (this.reply_?.tag === tag) this.cancelReplies();
    const c = this.consumers.get(tag);
    if (c) {
      // What was published before the cancel goes to this consumer first, as on RabbitMQ.
      c.queue.dispatchPending();
      this.consumers.delete(tag);
      c.queue.removeConsumer(c);
      this.consumerDeleted(c);
    }
    if (!nowait) this.reply({ id: M.BasicCancelOk, args: { consumerTag: tag } });
  }

  /** The queue of consumer c was deleted: tell the client, if it said it understands (RabbitMQ does so). */
  cancelByServer(c: Consumer): void {
    if (this.consumers.get(c.tag) !== c) return;
    this.consumers.delete(c.tag);
    // 3.10.8 tells of it twice when its queue is deleted: the queue's (VHost.deleteQueue), and
    // this, the channel's, which names nobody.
    this.vhost.consumerDeleted(c, this.pid, null);
    if (this.state === 'open' && this.conn.consumerCancelNotify) {
      const cancel: MethodInit = { id: M.BasicCancel, args: { consumerTag: c.tag, nowait: true } };
      if (this.heldCancels) this.heldCancels.push(cancel);
      else this.send(cancel);
    }
  }

  canDeliverTo(c: Consumer): boolean {
    if (this.state !== 'open' || this.conn.writer.congested) return false;
    // A channel's global prefetch holds back its no-ack consumers too while the acked ones fill it
    // (RabbitMQ's limiter answers can_send false to every queue of the channel); their own
    // deliveries never count against it.
    if (!c.noAck && c.prefetch !== 0 && c.unacked >= c.prefetch) return false;
    return this.globalPrefetch === 0 || this.consumerUnacked < this.globalPrefetch;
  }

  deliver(c: Consumer, entry: Entry): void {
    this.work++;
    const tag = this.nextTag++;
    if (c.noAck) {
      c.queue.settle(entry);
    } else {
      this.unacked.set(tag, { tag, entry, queue: c.queue, consumer: c, at: coarseClock.now, flush: this.conn.writer.nextFlush });
      if (c.queue.args.consumerTimeout !== undefined && c.queue.args.consumerTimeout < this.timeoutFloor) this.timeoutFloor = c.queue.args.consumerTimeout;
      c.unacked++;
      this.consumerUnacked++;
    }
    const msg = entry.msg;
    this.messageStats.deliver++;
    this.brokerStats.deliver++;
    c.queue.stats.deliver++;
    const byType = this.counters.forType(c.queue.type.name);
    if (c.noAck) {
      byType.consumeAutoAck++;
      this.stats.deliverNoAck++;
      c.queue.stats.deliverNoAck++;
    } else byType.consumeManualAck++;
    if (entry.redelivered) {
      this.stats.redeliver++;
      c.queue.stats.redeliver++;
      byType.redelivered++;
    }
    if (this.vhost.firehose) this.vhost.firehose.delivered(this.traceOrigin, c.queue, msg, entry.redelivered);
    let props = msg.properties;
    if (c.queue.countsDeliveries) {
      props = withDeliveryCount(entry, false);
      if (!c.noAck) c.queue.checkedOut(entry);
    }
    this.conn.writer.deliver((c.frame ??= new DeliverFrame(this.id, c.tag)), tag, entry.redelivered, msg.exchange, msg.routingKey, props, msg.deliverable());
  }

  private get(queueName: string, noAck: boolean): void {
    const q = this.queueFor(queueName);
    this.permit('read', 'queue', q.name);
    if (q.stream) throw new AmqpError(ReplyCode.NotImplemented, `basic.get not supported by stream queues ${queueRef(q)}`, 'connection');
    const paging = q.headReady();
    if (!paging && this.waitingGets === 0) {
      this.getNow(q, noAck);
      return;
    }
    // A get that must wait for a page from the store takes its message once the page is in; gets
    // behind it on this channel wait their turn, so they take messages in order.
    this.waitingGets++;
    this.chain(
      () => paging,
      () => {
        this.waitingGets--;
        this.getNow(q, noAck);
      },
    );
  }

  private getNow(q: Queue, noAck: boolean): void {
    const entry = q.deleted ? undefined : q.take();
    const byType = this.counters.forType(q.type.name);
    if (!entry) {
      byType.getEmpty++;
      this.stats.getEmpty++;
      q.stats.getEmpty++;
      this.reply({ id: M.BasicGetEmpty, args: {} });
      return;
    }
    const tag = this.nextTag++;
    this.stats.get++;
    q.stats.get++;
    if (noAck) {
      byType.getAutoAck++;
      this.stats.getNoAck++;
      q.stats.getNoAck++;
    } else byType.getManualAck++;
    if (entry.redelivered) {
      this.stats.redeliver++;
      q.stats.redeliver++;
      byType.redelivered++;
    }
    if (noAck) q.settle(entry);
    else {
      if (q.countsDeliveries) q.checkedOut(entry);
      this.unacked.set(tag, { tag, entry, queue: q, consumer: null, at: coarseClock.now, flush: 0 });
      if (q.args.consumerTimeout !== undefined && q.args.consumerTimeout < this.timeoutFloor) this.timeoutFloor = q.args.consumerTimeout;
    }
    const msg = entry.msg;
    const ok: MethodInit = {
      id: M.BasicGetOk,
      args: {
        deliveryTag: tag,
        redelivered: entry.redelivered,
        exchange: msg.exchange,
        routingKey: msg.routingKey,
        messageCount: q.messageCount,
      },
    };
    if (this.vhost.firehose) this.vhost.firehose.delivered(this.traceOrigin, q, msg, entry.redelivered);
    // Behind any reply still waiting for the store, like every other reply.
    const props = q.countsDeliveries ? withDeliveryCount(entry, true) : msg.properties;
    this.reply(null, () => this.conn.writer.content(this.id, ok, props, msg.content));
  }

  // ---- acknowledgements ---------------------------------------------------------------------

  /** The deliveries a tag names: one, or with multiple every one up to it (tag 0 = all). */
  private take(tag: number, multiple: boolean): Unacked[] {
    if (multiple && tag === 0) {
      const all = [...this.unacked.values()];
      this.unacked.clear();
      return all;
    }
    if (!this.unacked.has(tag)) throw chError(ReplyCode.PreconditionFailed, `unknown delivery tag ${tag}`);
    if (!multiple) {
      const u = this.unacked.get(tag)!;
      this.unacked.delete(tag);
      return [u];
    }
    const out: Unacked[] = [];
    this.unacked.takeThrough(tag, out);
    return out;
  }

  /**
   * RabbitMQ 3.10.8 closes the connection with 540 on a nack or reject (with or without requeue)
   * of a stream delivery.
   */
  private refuseOnStream(taken: Unacked[]): Unacked[] {
    const s = taken.find((u) => u.queue.stream);
    if (s) throw new AmqpError(ReplyCode.NotImplemented, `basic.nack and basic.reject not supported by stream queues ${queueRef(s.queue)}`, 'connection');
    return taken;
  }

  /** Acks, nacks and rejects take effect now, or at tx.commit in a transaction. */
  private settleLater(taken: Unacked[], how: Settlement): void {
    if (this.tx) this.tx.acks.push({ taken, how });
    else this.settle(taken, how);
  }

  private settle(taken: Unacked[], how: Settlement): void {
    if (how === 'requeue') this.requeue(taken);
    else if (how === 'drop') for (const u of taken) u.queue.discard(u.entry, 'rejected');
    else {
      this.stats.ack += taken.length;
      const written = this.conn.writer.flushesDone;
      for (const u of taken) {
        u.queue.stats.ack++;
        this.counters.forType(u.queue.type.name).acknowledged++;
        u.queue.settle(u.entry);
        // Acked and its bytes handed to the kernel: a pooled body whose only use this was can go
        // back (Message.recycle). basic.get's flush 0 never qualifies: get pins the body anyway.
        if (u.flush !== 0 && u.flush <= written) u.entry.msg.recycle();
      }
    }
    for (const u of taken) this.freed(u);
  }

  /** Held publishes are dropped; held acks are undone, so those deliveries are unacked again. */
  private rollback(): void {
    if (!this.tx) throw chError(ReplyCode.PreconditionFailed, 'channel is not transactional');
    const held = this.tx.acks.flatMap((a) => a.taken);
    this.tx = { publishes: [], acks: [] };
    if (held.length > 0) {
      const all = [...held, ...this.unacked.values()].sort((a, b) => a.tag - b.tag);
      this.unacked.clear();
      for (const u of all) this.unacked.set(u.tag, u);
    }
    this.reply({ id: M.TxRollbackOk, args: {} });
  }

  private commit(): void {
    const tx = this.tx;
    if (!tx) throw chError(ReplyCode.PreconditionFailed, 'channel is not transactional');
    this.tx = null;
    try {
      for (const p of tx.publishes) this.publish(p.exchange, p.routingKey, p.mandatory, p.properties, p.body);
      for (const a of tx.acks) this.settle(a.taken, a.how);
    } finally {
      this.tx = { publishes: [], acks: [] };
    }
    this.afterStore({ id: M.TxCommitOk, args: {} }, undefined);
  }

  /** A delivery left the unacked set: its consumer (and queue) may take more. */
  private freed(u: Unacked): void {
    const c = u.consumer;
    if (!c) return;
    c.unacked--;
    this.consumerUnacked--;
    if (this.globalPrefetch !== 0) this.resumeDeliveries();
    else c.queue.scheduleDispatch();
  }

  /** released: the channel is going away with them (Queue.requeue). */
  private requeue(list: Unacked[], released = false): void {
    const byQueue = new Map<Queue, Entry[]>();
    for (const u of list) {
      let l = byQueue.get(u.queue);
      if (!l) byQueue.set(u.queue, (l = []));
      l.push(u.entry);
    }
    for (const [q, entries] of byQueue) q.requeue(entries, released);
  }

  /** RabbitMQ requeues the unacked deliveries; redelivering them in place (requeue=false) it refuses. */
  private recover(requeue: boolean): void {
    if (!requeue) throw new AmqpError(ReplyCode.NotImplemented, 'requeue=false', 'connection');
    const all = [...this.unacked.values()];
    this.unacked.clear();
    this.requeue(all);
    for (const u of all) this.freed(u);
  }

  /**
   * Asks every queue this channel consumes from to deliver again (capacity came back). Each time a
   * different consumer's queue asks first, so that under a global prefetch the freed room goes
   * round the queues rather than always to the first (RabbitMQ's limiter varies the order too).
   */
  resumeDeliveries(): void {
    const n = this.consumers.size;
    if (n === 0) return;
    const first = this.resumeFrom++ % n;
    let i = 0;
    for (const c of this.consumers.values()) if (i++ >= first) c.queue.scheduleDispatch();
    i = 0;
    for (const c of this.consumers.values()) if (i++ < first) c.queue.scheduleDispatch();
  }

  /** The channel is going away: consumers are cancelled, unacked messages go back to their queues. */
  release(): void {
    if (this.state === 'closed') return;
    if (this.state === 'open') this.state = 'closing';
    const consumers = [...this.consumers.values()];
    this.consumers.clear();
    // Acks held by an uncommitted transaction never happened: those messages go back too.
    const all = [...this.unacked.values(), ...(this.tx?.acks.flatMap((a) => a.taken) ?? [])];
    this.unacked.clear();
    this.tx = null;
    this.requeue(all, true);
    for (const c of consumers) {
      c.queue.removeConsumer(c);
      this.vhost.consumerDeleted(c, this.pid, INTERNAL_USER);
    }
    this.cancelReplies();
    this.confirms?.stop();
    this.confirms = null;
    // The connection is going too: what the channel still owed will never be asked for.
    this.draining?.stop();
  }
}
