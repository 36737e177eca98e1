// One channel: its methods (spec classes channel, queue, basic, confirm), its consumers, the
// deliveries awaiting ack, and publisher confirms. Channel errors close just this channel.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  AmqpError,
  CommandAssembler,
  FRAME_METHOD,
  M,
  ReplyCode,
  methodInfo,
  type Command,
  type FieldTable,
  type Method,
  type MethodInit,
} from '../frames/index.js';
import { ConfirmTracker } from './confirms.js';
import type { Connection } from './connection.js';
import { Consumer } from './consumer.js';
import { Message, deliveryModeOf, type Entry } from './message.js';
import type { Queue } from './queue.js';
import { checkEquivalent } from './queue-args.js';
import type { VHost } from './vhost.js';

interface Unacked {
  entry: Entry;
  queue: Queue;
  consumer: Consumer | null;
}

const chError = (code: number, text: string): AmqpError => new AmqpError(code, text, 'channel');

/** RabbitMQ's server-generated names: a prefix and 22 url-safe random characters. */
const generatedName = (prefix: string): string => prefix + randomBytes(16).toString('base64url');

export class Channel {
  readonly log: Logger;
  readonly consumers = new Map<string, Consumer>();
  private readonly assembler: CommandAssembler;
  private readonly unacked = new Map<number, Unacked>();
  private nextTag = 1;
  private state: 'open' | 'closing' | 'closed' = 'open';
  /** basic.qos global=false: the window of consumers started from now on. */
  private prefetchCount = 0;
  /** basic.qos global=true: one window shared by all of the channel's consumers. */
  private globalPrefetch = 0;
  private consumerUnacked = 0;
  private confirms: ConfirmTracker | null = null;
  /** Replies held back until the store has written what they acknowledge, keeping reply order. */
  private replyChain: Promise<void> | null = null;
  private lastQueue = '';
  private readonly vhost: VHost;
  private readonly routed = new Set<Queue>();

  constructor(
    readonly id: number,
    readonly conn: Connection,
  ) {
    this.log = conn.log.child({ channel: id });
    this.vhost = conn.vhost!;
    this.assembler = new CommandAssembler(conn.broker.options.maxMessageSize);
  }

  onFrame(type: number, payload: Buffer): void {
    if (this.state !== 'open') {
      // After channel.close only close and close-ok mean anything (spec 4.2.6 / 2.2.4).
      if (type === FRAME_METHOD) {
        const cmd = this.assembler.push(type, payload);
        if (cmd?.method.id === M.ChannelCloseOk) this.conn.closeChannel(this);
        else if (cmd?.method.id === M.ChannelClose) this.send({ id: M.ChannelCloseOk, args: {} });
        this.assembler.reset();
      }
      return;
    }
    const cmd = this.assembler.push(type, payload);
    if (!cmd) return;
    try {
      this.onCommand(cmd);
    } catch (e) {
      if (e instanceof AmqpError && e.classId === 0) {
        e.classId = cmd.method.id >>> 16;
        e.methodId = cmd.method.id & 0xffff;
      }
      throw e;
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
    this.conn.writer.method(this.id, m);
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
  private afterStore(m: MethodInit | null, then: (() => void) | undefined, flush = true): void {
    const store = this.vhost.store;
    const chain = (this.replyChain ?? Promise.resolve()).then(() => (flush ? store.flush() : undefined));
    const mine = chain.then(
      () => {
        if (this.state !== 'open') return;
        if (m) this.send(m);
        then?.();
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
      case M.BasicPublish:
        return this.publish(m.args.exchange, m.args.routingKey, m.args.mandatory, cmd.properties!, cmd.body!);
      case M.BasicAck:
        return this.ack(m.args.deliveryTag, m.args.multiple);
      case M.BasicNack:
        return this.reject(m.args.deliveryTag, m.args.multiple, m.args.requeue);
      case M.BasicReject:
        return this.reject(m.args.deliveryTag, false, m.args.requeue);
      case M.BasicQos:
        return this.qos(m.args.prefetchSize, m.args.prefetchCount, m.args.global);
      case M.BasicConsume:
        return this.consume(m.args.queue, m.args.consumerTag, m.args.noAck, m.args.exclusive, m.args.nowait);
      case M.BasicCancel:
        return this.cancel(m.args.consumerTag, m.args.nowait);
      case M.BasicGet:
        return this.get(m.args.queue, m.args.noAck);
      case M.BasicRecover:
        this.recover();
        return this.reply({ id: M.BasicRecoverOk, args: {} });
      case M.BasicRecoverAsync:
        return this.recover();
      case M.QueueDeclare: {
        const a = m.args;
        return this.declareQueue(a.queue, a.passive, a.durable, a.exclusive, a.autoDelete, a.nowait, a.arguments);
      }
      case M.QueuePurge:
        return this.purge(m.args.queue, m.args.nowait);
      case M.QueueDelete:
        return this.deleteQueue(m.args.queue, m.args.ifUnused, m.args.ifEmpty, m.args.nowait);
      case M.ConfirmSelect:
        this.confirms ??= new ConfirmTracker(this.conn.writer, this.id);
        if (!m.args.nowait) this.reply({ id: M.ConfirmSelectOk, args: {} });
        return;
      case M.ChannelClose:
        this.release();
        this.state = 'closed';
        this.send({ id: M.ChannelCloseOk, args: {} });
        this.conn.closeChannel(this);
        return;
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

  /** Finds a queue the connection may use, or throws 404 / 405 as RabbitMQ does. */
  private queueFor(name: string): Queue {
    const q = this.vhost.queues.get(name === '' ? this.lastQueue : name);
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
    const generated = name === '' && !passive;
    if (generated) name = generatedName('amq.gen-');
    else if (name === '' && passive) name = this.lastQueue;
    let q = this.vhost.queues.get(name);
    if (passive) {
      if (!q) throw chError(ReplyCode.NotFound, `no queue '${name}' in vhost '${this.vhost.name}'`);
      this.checkExclusive(q);
    } else if (q) {
      this.checkExclusive(q);
      if (exclusive !== (q.exclusiveOwner !== null)) throw this.locked(q);
      checkEquivalent(q, durable, autoDelete, args);
    } else {
      if (!generated && name.startsWith('amq.')) {
        throw chError(ReplyCode.AccessRefused, `queue name '${name}' contains reserved prefix 'amq.*'`);
      }
      q = this.vhost.addQueue({ name, durable, exclusiveOwner: exclusive ? this.conn : null, autoDelete, arguments: args });
      if (exclusive) this.conn.exclusiveQueues.add(q);
    }
    this.lastQueue = name;
    const ok: MethodInit = {
      id: M.QueueDeclareOk,
      args: { queue: name, messageCount: q.ready.length, consumerCount: q.consumers.length },
    };
    const mustPersist = !passive && durable && !exclusive;
    if (mustPersist) this.afterStore(nowait ? null : ok, undefined);
    else if (!nowait) this.reply(ok);
  }

  private purge(name: string, nowait: boolean): void {
    const q = this.queueFor(name);
    const count = q.purge();
    if (!nowait) this.reply({ id: M.QueuePurgeOk, args: { messageCount: count } });
  }

  private deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, nowait: boolean): void {
    const q = this.vhost.queues.get(name === '' ? this.lastQueue : name);
    if (!q) {
      // RabbitMQ answers delete-ok for a queue that is not there: deleting is idempotent.
      if (!nowait) this.reply({ id: M.QueueDeleteOk, args: { messageCount: 0 } });
      return;
    }
    this.checkExclusive(q);
    if (ifUnused && q.consumers.length > 0) {
      throw chError(ReplyCode.PreconditionFailed, `queue '${q.name}' in vhost '${this.vhost.name}' in use`);
    }
    if (ifEmpty && q.ready.length > 0) {
      throw chError(ReplyCode.PreconditionFailed, `queue '${q.name}' in vhost '${this.vhost.name}' is not empty`);
    }
    const count = this.vhost.deleteQueue(q);
    if (q.exclusiveOwner === this.conn) this.conn.exclusiveQueues.delete(q);
    const ok: MethodInit = { id: M.QueueDeleteOk, args: { messageCount: count } };
    if (q.durable && !q.exclusiveOwner) this.afterStore(nowait ? null : ok, undefined);
    else if (!nowait) this.reply(ok);
  }

  // ---- publishing ---------------------------------------------------------------------------

  private publish(exchangeName: string, routingKey: string, mandatory: boolean, properties: Buffer, body: Buffer): void {
    const exchange = this.vhost.exchanges.get(exchangeName);
    if (!exchange) throw chError(ReplyCode.NotFound, `no exchange '${exchangeName}' in vhost '${this.vhost.name}'`);
    const persistent = deliveryModeOf(properties) === 2;
    const broker = this.conn.broker;
    const msg = new Message(broker.nextSeq++, exchangeName, routingKey, properties, body, persistent);
    const routed = this.routed;
    exchange.route(routingKey, undefined, routed);
    let persisted = false;
    for (const q of routed) {
      q.enqueue(msg);
      if (q.persists(msg)) persisted = true;
    }
    const unroutable = routed.size === 0;
    routed.clear();
    if (unroutable && mandatory) {
      this.conn.writer.content(
        this.id,
        { id: M.BasicReturn, args: { replyCode: ReplyCode.NoRoute, replyText: 'NO_ROUTE', exchange: exchangeName, routingKey } },
        properties,
        body,
      );
    }
    if (this.confirms) {
      const seq = this.confirms.next();
      if (persisted) {
        this.vhost.store.flush().then(
          () => this.confirms?.settle(seq, true),
          (err: unknown) => {
            this.log.error({ err }, 'store write failed; nacking publish');
            this.confirms?.settle(seq, false);
          },
        );
      } else {
        this.confirms.settle(seq, true);
      }
    }
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

  private consume(queueName: string, tag: string, noAck: boolean, exclusive: boolean, nowait: boolean): void {
    const q = this.queueFor(queueName);
    if (tag === '') tag = generatedName('amq.ctag-');
    else if (this.consumers.has(tag)) {
      throw new AmqpError(ReplyCode.NotAllowed, `attempt to reuse consumer tag '${tag}'`, 'connection');
    }
    if (q.consumers.some((c) => c.exclusive) || (exclusive && q.consumers.length > 0)) {
      throw chError(ReplyCode.AccessRefused, `queue '${q.name}' in vhost '${this.vhost.name}' in exclusive use`);
    }
    const c = new Consumer(tag, this, q, noAck, exclusive, this.prefetchCount);
    this.consumers.set(tag, c);
    // The queue learns of the consumer only once consume-ok is on its way, so no delivery precedes it.
    this.reply(nowait ? null : { id: M.BasicConsumeOk, args: { consumerTag: tag } }, () => {
      if (this.consumers.get(tag) === c && !q.deleted) q.addConsumer(c);
    });
  }

  private cancel(tag: string, nowait: boolean): void {
    const c = this.consumers.get(tag);
    if (c) {
      this.consumers.delete(tag);
      c.queue.removeConsumer(c);
    }
    if (!nowait) this.reply({ id: M.BasicCancelOk, args: { consumerTag: tag } });
  }

  /** The queue of consumer c was deleted: tell the client, if it said it understands (RabbitMQ does so). */
  cancelByServer(c: Consumer): void {
    if (this.consumers.get(c.tag) !== c) return;
    this.consumers.delete(c.tag);
    if (this.state === 'open' && this.conn.consumerCancelNotify) {
      this.send({ id: M.BasicCancel, args: { consumerTag: c.tag, nowait: true } });
    }
  }

  canDeliverTo(c: Consumer): boolean {
    if (this.state !== 'open' || this.conn.writer.congested) return false;
    if (c.noAck) return true;
    if (c.prefetch !== 0 && c.unacked >= c.prefetch) return false;
    return this.globalPrefetch === 0 || this.consumerUnacked < this.globalPrefetch;
  }

  deliver(c: Consumer, entry: Entry): void {
    const tag = this.nextTag++;
    if (c.noAck) {
      c.queue.settle(entry);
    } else {
      this.unacked.set(tag, { entry, queue: c.queue, consumer: c });
      c.unacked++;
      this.consumerUnacked++;
    }
    const msg = entry.msg;
    this.conn.writer.content(
      this.id,
      {
        id: M.BasicDeliver,
        args: { consumerTag: c.tag, deliveryTag: tag, redelivered: entry.redelivered, exchange: msg.exchange, routingKey: msg.routingKey },
      },
      msg.properties,
      msg.body,
    );
  }

  private get(queueName: string, noAck: boolean): void {
    const q = this.queueFor(queueName);
    const entry = q.ready.shift();
    if (!entry) {
      this.reply({ id: M.BasicGetEmpty, args: {} });
      return;
    }
    const tag = this.nextTag++;
    if (noAck) q.settle(entry);
    else this.unacked.set(tag, { entry, queue: q, consumer: null });
    const msg = entry.msg;
    const ok: MethodInit = {
      id: M.BasicGetOk,
      args: {
        deliveryTag: tag,
        redelivered: entry.redelivered,
        exchange: msg.exchange,
        routingKey: msg.routingKey,
        messageCount: q.ready.length,
      },
    };
    if (this.replyChain) this.reply(null, () => this.conn.writer.content(this.id, ok, msg.properties, msg.body));
    else this.conn.writer.content(this.id, ok, msg.properties, msg.body);
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
    for (const [t, u] of this.unacked) {
      if (t > tag) break;
      out.push(u);
      this.unacked.delete(t);
    }
    return out;
  }

  private ack(tag: number, multiple: boolean): void {
    for (const u of this.take(tag, multiple)) {
      u.queue.settle(u.entry);
      this.freed(u);
    }
  }

  private reject(tag: number, multiple: boolean, requeue: boolean): void {
    const taken = this.take(tag, multiple);
    if (requeue) this.requeue(taken);
    else for (const u of taken) u.queue.settle(u.entry);
    for (const u of taken) this.freed(u);
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

  private requeue(list: Unacked[]): void {
    const byQueue = new Map<Queue, Entry[]>();
    for (const u of list) {
      let l = byQueue.get(u.queue);
      if (!l) byQueue.set(u.queue, (l = []));
      l.push(u.entry);
    }
    for (const [q, entries] of byQueue) q.requeue(entries);
  }

  private recover(): void {
    const all = [...this.unacked.values()];
    this.unacked.clear();
    this.requeue(all);
    for (const u of all) this.freed(u);
  }

  /** Asks every queue this channel consumes from to deliver again (capacity came back). */
  resumeDeliveries(): void {
    for (const c of this.consumers.values()) c.queue.scheduleDispatch();
  }

  /** The channel is going away: consumers are cancelled, unacked messages go back to their queues. */
  release(): void {
    if (this.state === 'closed') return;
    if (this.state === 'open') this.state = 'closing';
    const consumers = [...this.consumers.values()];
    this.consumers.clear();
    const all = [...this.unacked.values()];
    this.unacked.clear();
    this.requeue(all);
    for (const c of consumers) c.queue.removeConsumer(c);
    this.confirms = null;
  }
}
