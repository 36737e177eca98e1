// A virtual host: its queues, exchanges and bindings, how a message is routed through them, and
// the store their durable state goes to.
import { pino, type Logger } from 'pino';
import { AmqpError, ReplyCode, toFieldTable, type FieldTable } from '../frames/index.js';
import { definitionId, type Store, type StoredBinding, type StoredExchange } from '../store/store.js';
import { ReplyRegistry } from './direct-reply-to.js';
import { DefaultExchange } from './exchanges/default.js';
import { Exchange, INTERNAL_USER, NO_ARGUMENTS, type Binding, type Destination, type ExchangeHost, type ExchangeSpec } from './exchanges/exchange.js';
import { createExchange } from './exchanges/types.js';
import { Message } from './message.js';
import { BrokerEvents, type EventFields } from './events.js';
import type { Consumer } from './consumer.js';
import type { PagingLimits } from './paged-tail.js';
import { augmentDeclareArgs } from './default-queue-type.js';
import { alternateExchangeOf, matchPolicy, type Policy } from './policies.js';
import { GlobalCounters } from './global-counters.js';
import { MessageStats } from './stats.js';
import { Queue, type QueueSpec } from './queue.js';
import { checkNewQueue } from './queue-args.js';
import { writeTableBytes } from './table-bytes.js';
import { sortedArguments } from './binding-arguments.js';
import { Firehose, TRACE_EXCHANGE, type TraceOrigin } from './firehose.js';

/** Declared in every vhost, as RabbitMQ does: name, type, internal. */
export const STANDARD_EXCHANGES: [string, string, boolean][] = [
  ['amq.direct', 'direct', false],
  ['amq.fanout', 'fanout', false],
  ['amq.topic', 'topic', false],
  ['amq.headers', 'headers', false],
  ['amq.match', 'headers', false],
  // The firehose tracer's (firehose.ts): internal, so only the broker publishes to it.
  [TRACE_EXCHANGE, 'topic', true],
];

export interface PublishOutcome {
  /** How many queues the message reached. */
  routed: number;
  /** Some durable queue stores it: confirm after the store has written it. */
  persisted: boolean;
  /**
   * How many queues store it, when all of those may confirm it by being done with it before the
   * store has written it (Queue.settlesConfirms, confirms.ts ConfirmWait); 0 when not.
   */
  confirmCopies: number;
  /** Some queue's x-overflow turned it away: nack the publish. */
  refused: boolean;
  /** Queues whose backlog should pause the publisher (Queue.overloaded). */
  overloaded: Queue[];
  /** Outcomes known later (Queue.takeVerdict): confirm only if all are true. Usually empty. */
  verdicts: Promise<boolean>[];
}

const isQueue = (d: Destination): d is Queue => d instanceof Queue;

/** Creates a vhost's queue objects (Queue, or a subclass a cluster node uses). */
export type QueueFactory = (vhost: VHost, spec: QueueSpec) => Queue;

export class VHost implements ExchangeHost {
  readonly queues = new Map<string, Queue>();
  readonly exchanges = new Map<string, Exchange>();
  /** The queue the default exchange routed to last (route). */
  private lastRouted: Queue | undefined = undefined;
  /** The key it was found by: the publisher's own string, so that the next compare is by identity. */
  private lastRoutedKey = '';
  readonly defaultExchange: DefaultExchange;
  /** Channels consuming from amq.rabbitmq.reply-to, by the name replies are routed with. */
  readonly replies = new ReplyRegistry();
  description = '';
  /**
   * The message counters and socket bytes of the vhost's channels and connections that closed: the
   * management API's vhost totals add the live ones to these, so they never fall (RabbitMQ's vhost_stats).
   */
  readonly pastStats = new MessageStats();
  pastRecvOct = 0;
  pastSendOct = 0;
  /** Metadata tags (RabbitMQ's vhost tags). */
  tags: string[] = [];
  /** default_queue_type in the vhost's metadata (RabbitMQ 3.11+); undefined when unset (classic). */
  defaultQueueType: string | undefined = undefined;
  /** Its policies by name (policies.ts); each queue and exchange holds the one that applies. */
  readonly policies = new Map<string, Policy>();
  /** Operator policies: limits an operator imposes, whatever the users' policies say. */
  readonly operatorPolicies = new Map<string, Policy>();
  /** Bindings on headers exchanges: while there are none, publishes skip decoding headers. */
  headersBindings = 0;
  /** Set while a publish is routed when an exchange held the message in the store (heldDurably). */
  private held = false;
  /** Quorum queues holding at-least-once dead letters their targets have not all taken. */
  readonly owingQueues = new Set<Queue>();
  /** How often those are retried (RabbitMQ's dead_letter_worker_publisher_confirm_timeout). */
  deadLetterRetryMs = 180_000;
  /** The broker's counters (set by the broker; a vhost of its own otherwise). */
  counters = new GlobalCounters();
  /** The firehose tracer while tracing is on (setTracing); null otherwise, which is all a publish checks. */
  firehose: Firehose | null = null;
  private retryScheduled = false;
  /** The queues the message being published reaches (scratch space, reused by every publish). */
  private readonly routed: Queue[] = [];
  /** The smallest maxBody of the vhost's queues so far (Infinity on one node): publish checks bodies past it. */
  private bodyBound = Infinity;
  /** Reused by every publish(): read it before the next publish. */
  private readonly outcome: PublishOutcome = { routed: 0, persisted: false, confirmCopies: 0, refused: false, overloaded: [], verdicts: [] };
  // Scratch space reused by every route() call, so routing allocates nothing per message.
  private readonly pending: Destination[] = [];
  /**
   * Marks instead of Sets: a queue reached, or an exchange visited, is stamped with the current
   * mark (Queue.routeMark, Exchange.routeMark), so each is taken once. Adding to and clearing a
   * long-lived Set cost about half a microsecond a publish (V8 reallocates its table in the young
   * generation, referenced from the old one), 5% of the broker's time at 250k msgs/s.
   */
  private marks = 0;

  constructor(
    readonly name: string,
    readonly store: Store,
    /** The broker-wide message sequence: names messages in the store and orders them. */
    readonly nextSeq: () => number,
    /** How much of each queue stays in memory; null keeps every message in memory. */
    readonly paging: PagingLimits | null = null,
    readonly log: Logger = pino({ level: 'silent' }),
    /** Makes the queue objects: a cluster node makes ones that may live on another node. */
    private readonly makeQueue: QueueFactory = (vhost, spec) => new Queue(vhost, spec),
    /** Where what happens here is told (the broker's; a vhost on its own tells nobody). */
    readonly events: BrokerEvents = new BrokerEvents(),
  ) {
    this.defaultExchange = new DefaultExchange(this.queues);
    this.exchanges.set('', this.defaultExchange);
    for (const [name, type, internal] of STANDARD_EXCHANGES) {
      this.exchanges.set(name, createExchange({ name, type, durable: true, autoDelete: false, internal, arguments: new Map() }));
    }
  }

  /**
   * Adds to out every queue a message reaches from exchange, following exchange-to-exchange
   * bindings; each exchange is visited once, so cycles cannot deliver a message twice. msg: the
   * message (Exchange.route); extraKeys: its CC and BCC keys, which RabbitMQ routes beside its own
   * at every exchange on the way (so one hop may match a CC key and the next the routing key).
   */
  route(exchange: Exchange, routingKey: string, headers: FieldTable | undefined, out: Queue[], mark: number, msg?: Message, extraKeys?: readonly string[]): void {
    if (exchange === this.defaultExchange) {
      // The most common route of all, and the simplest: the queue named by the key. Publishers
      // repeat their key (the same string, see the assembler), so the last queue found is kept: the
      // lookup was 1.5% of a publish flood. A queue leaves the map only when deleted (deleteQueue).
      let q: Queue | undefined = this.lastRouted;
      if (q === undefined || routingKey !== this.lastRoutedKey || q.deleted) {
        q = this.queues.get(routingKey);
        if (q) {
          this.lastRouted = q;
          this.lastRoutedKey = routingKey;
        }
      }
      if (q && q.routeMark !== mark) {
        q.routeMark = mark;
        out.push(q);
      }
      if (extraKeys) for (const k of extraKeys) this.routeByName(k, out, mark);
      return;
    }
    const pending = this.pending;
    const visit = this.newMark();
    pending.length = 0;
    exchange.routeMark = visit;
    exchange.route(routingKey, headers, pending, msg, false);
    if (extraKeys) for (const k of extraKeys) exchange.route(k, headers, pending, msg, true);
    while (pending.length > 0) {
      const d = pending.pop()!;
      if (isQueue(d)) {
        if (d.routeMark !== mark) {
          d.routeMark = mark;
          out.push(d);
        }
      } else if (d.routeMark !== visit) {
        d.routeMark = visit;
        d.route(routingKey, headers, pending, msg, false);
        if (extraKeys) for (const k of extraKeys) d.route(k, headers, pending, msg, true);
      }
    }
  }

  /** The default exchange's route of a CC or BCC key: the queue named by the key. */
  private routeByName(key: string, out: Queue[], mark: number): void {
    const q = this.queues.get(key);
    if (q && q.routeMark !== mark) {
      q.routeMark = mark;
      out.push(q);
    }
  }

  get tracing(): boolean {
    return this.firehose !== null;
  }

  /** Turns the firehose tracer on or off (node: the name the trace messages carry). */
  setTracing(on: boolean, node: string): void {
    if (on === this.tracing) return;
    this.firehose = on ? new Firehose(this, node) : null;
    this.log.info({ vhost: this.name }, on ? 'tracing on' : 'tracing off');
  }

  /** A mark no queue or exchange carries yet: route() takes each once per mark. */
  newMark(): number {
    return ++this.marks;
  }

  /**
   * Routes a message from exchange and enqueues it on every queue reached. refused: some queue's
   * x-overflow turned it away; persisted: some durable queue stores it (confirm after the write).
   */
  publish(exchange: Exchange, msg: Message, extraKeys?: string[], origin?: TraceOrigin): PublishOutcome {
    const routed = this.routed;
    // Setting an array's length is a runtime call: only when there is something to drop.
    if (routed.length > 0) routed.length = 0;
    const mark = this.newMark();
    this.held = false;
    // Headers are decoded only when a headers exchange could look at them.
    const headers = this.headersBindings > 0 ? msg.decoded().headers : undefined;
    this.route(exchange, msg.routingKey, headers, routed, mark, msg, extraKeys);
    // The default exchange shows a policy that matches it but, in RabbitMQ 3.10.8, never uses its alternate-exchange.
    if (routed.length === 0 && (exchange.arguments.size > 0 || (exchange.policy !== null && exchange !== this.defaultExchange))) this.routeAlternate(exchange, msg, headers, mark, extraKeys);
    // Traced before any queue takes it, so the trace of its publish precedes that of its delivery.
    if (this.firehose && origin) this.firehose.published(origin, exchange.name, msg, extraKeys, routed);
    // A delayed-message exchange that held the message in the store: the confirm waits for it.
    let persisted = this.held;
    // The held one is in the store alone: only its write can confirm it.
    let copies = 0;
    let queuesMaySettle = !this.held;
    let refused = false;
    const outcome = this.outcome;
    if (outcome.overloaded.length > 0) outcome.overloaded.length = 0;
    if (outcome.verdicts.length > 0) outcome.verdicts = [];
    const n = routed.length;
    // A body some queue reached cannot take (a cluster's, whose messages travel between nodes as
    // single NATS messages) is refused before any queue has it, as max_message_size is.
    if (msg.bodySize > this.bodyBound) {
      for (let i = 0; i < n; i++) {
        const max = routed[i]!.maxBody;
        if (msg.bodySize > max) throw new AmqpError(ReplyCode.PreconditionFailed, `message size ${msg.bodySize} is larger than configured max size ${max}`, 'channel');
      }
    }
    // An index loop: a queue's enqueue may dead-letter, which routes (into its own list) meanwhile.
    for (let i = 0; i < n; i++) {
      const q = routed[i]!;
      q.stats.publish++;
      if (!q.enqueue(msg)) refused = true;
      else {
        if (q.persists(msg)) {
          persisted = true;
          copies++;
          // A queue nobody consumes from will not be done with it before the write (a basic.get
          // or a consumer that comes within it only leaves the confirm to the write): no wait is
          // made for a publish-only flow.
          if (!q.settlesConfirms || q.consumers.length === 0) queuesMaySettle = false;
        }
        const later = q.takeVerdict();
        if (later) outcome.verdicts.push(later);
      }
      if (q.overloaded) outcome.overloaded.push(q);
    }
    outcome.routed = n;
    exchange.publishIn++;
    exchange.publishOut += n;
    outcome.persisted = persisted;
    outcome.confirmCopies = queuesMaySettle ? copies : 0;
    outcome.refused = refused;
    // One queue, nearly always: pop() is inlined where a length store is a runtime call.
    if (routed.length === 1) routed.pop();
    else routed.length = 0;
    return outcome;
  }

  /**
   * RabbitMQ's alternate-exchange argument: a message its exchange routes nowhere goes to the
   * alternate exchange instead, and on down that exchange's own alternate, each tried once.
   */
  private routeAlternate(exchange: Exchange, msg: Message, headers: FieldTable | undefined, mark: number, extraKeys?: string[]): void {
    const tried = new Set<Exchange>([exchange]);
    let current = exchange;
    for (;;) {
      const ae = alternateExchangeOf(current.arguments, current.policy);
      const next = ae !== undefined ? this.exchanges.get(ae) : undefined;
      if (!next || tried.has(next)) return;
      tried.add(next);
      this.route(next, msg.routingKey, headers, this.routed, mark, msg, extraKeys);
      if (this.routed.length > 0) return;
      current = next;
    }
  }

  /** A declare's arguments with this vhost's default queue type added where RabbitMQ adds it. */
  declareArgs(durable: boolean, exclusive: boolean, autoDelete: boolean, args: FieldTable): FieldTable {
    return augmentDeclareArgs(this.defaultQueueType, durable, exclusive, autoDelete, args);
  }

  /**
   * Creates a queue; a durable, non-exclusive one is written to the store (flushed by the caller).
   * persist false: a queue restored (from the store, or a cluster's shared topology), not created.
   */
  addQueue(spec: QueueSpec, persist = true): Queue {
    if (persist) checkNewQueue(spec.name, this.name, spec.arguments);
    const q = this.makeQueue(this, spec);
    if (q.maxBody < this.bodyBound) this.bodyBound = q.maxBody;
    if (persist) this.counters.queuesCreated++;
    if (this.policies.size > 0 || this.operatorPolicies.size > 0) this.applyPolicies(q);
    q.stream?.start();
    this.queues.set(q.name, q);
    this.topologyChanged();
    if (persist && this.isDurable(q)) {
      this.store.putQueue({ vhost: this.name, name: q.name, autoDelete: q.autoDelete, arguments: writeTableBytes(q.arguments) });
    }
    if (persist) {
      this.events.emit('queue.created', () => [
        ['user_who_performed_action', this.events.who],
        ['exclusive', q.exclusiveOwner !== null],
        ['owner_pid', q.exclusiveOwner?.pid ?? ''],
        ['arguments', { terms: q.arguments }],
        ['auto_delete', q.autoDelete],
        ['durable', q.durable],
        ['name', q.name],
        ['vhost', this.name],
      ]);
    }
    return q;
  }

  /** The policy (or operator policy) that applies to a queue or an exchange of this vhost. */
  policyFor(x: Queue | Exchange, operator = false): Policy | null {
    const target = x instanceof Exchange ? ({ kind: 'exchange', name: x.name } as const) : { kind: 'queue' as const, name: x.name, type: x.type.name };
    return matchPolicy((operator ? this.operatorPolicies : this.policies).values(), target);
  }

  private applyPolicies(q: Queue): void {
    q.applyPolicy(this.policyFor(q), this.operatorPolicies.size > 0 ? this.policyFor(q, true) : null);
  }

  /**
   * Sets (or with null, clears) a policy or an operator policy and re-applies policies to every
   * queue and exchange at once, as RabbitMQ does. The store write is the caller's to flush.
   */
  setPolicy(name: string, p: Policy | null, persist = true, operator = false): void {
    const map = operator ? this.operatorPolicies : this.policies;
    if (p) map.set(name, p);
    else map.delete(name);
    if (persist) {
      const kind = operator ? 'operatorPolicy' : 'policy';
      const id = definitionId.policy(this.name, name);
      if (p) this.store.putDefinition(kind, id, p);
      else this.store.deleteDefinition(kind, id);
      if (!operator) this.policyTold(name, p);
    }
    for (const q of this.queues.values()) this.applyPolicies(q);
    // Operator policies only set queue limits: exchanges take only users' policies.
    for (const e of this.exchanges.values()) e.policy = this.policyFor(e);
    this.topologyChanged();
  }

  private policyTold(name: string, p: Policy | null): void {
    const ev = this.events;
    if (!p) return ev.emit('policy.cleared', () => [['user_who_performed_action', ev.who], ['vhost', this.name], ['name', name]]);
    ev.emit('policy.set', () => [
      ['apply-to', p['apply-to']],
      ['priority', p.priority],
      ['definition', { table: toFieldTable(p.definition) }],
      ['pattern', p.pattern],
      ['user_who_performed_action', ev.who],
      ['vhost', this.name],
      ['name', name],
    ]);
  }

  /**
   * An exchange, queue, binding or policy was added or changed: dead letters owed at least once
   * may have a route now. Retried once the current work is done (several changes, one retry).
   */
  topologyChanged(): void {
    if (this.owingQueues.size === 0 || this.retryScheduled) return;
    this.retryScheduled = true;
    setImmediate(() => {
      this.retryScheduled = false;
      for (const q of [...this.owingQueues]) q.retryDeadLetters();
    });
  }

  /** Deletes a queue: its consumers are cancelled, its bindings, messages and store records dropped. */
  deleteQueue(q: Queue): number {
    if (q.deleted) return 0;
    this.counters.queuesDeleted++;
    if (q.type.name === 'classic') {
      this.counters.diskWritesOfDeleted += q.diskWrites;
      this.counters.diskReadsOfDeleted += q.diskReads;
    }
    // Told in 3.10.8's order: its consumers, its bindings, the queue (then each consumer's channel
    // tells of its consumer again, as it cancels it).
    const ev = this.events;
    if (ev.on) {
      for (const c of q.consumers) if (c.channel.pid) this.consumerDeleted(c, c.channel.pid);
      for (const b of q.bindings) ev.emit('binding.deleted', () => this.bindingFields(b, INTERNAL_USER));
      ev.emit('queue.deleted', () => [['user_who_performed_action', ev.who], ['name', q.name], ['vhost', this.name]]);
    }
    const { count, stored } = q.destroy();
    this.queues.delete(q.name);
    for (const c of [...q.consumers]) c.channel.cancelByServer(c);
    q.consumers.length = 0;
    for (const b of [...q.bindings]) this.removeBinding(b, false);
    if (stored || this.isDurable(q)) for (const name of q.storeNames) this.store.deleteQueue(this.name, name);
    return count;
  }

  addExchange(spec: ExchangeSpec, persist = true): Exchange {
    const e = createExchange(spec);
    if (this.policies.size > 0) e.policy = this.policyFor(e);
    this.exchanges.set(e.name, e);
    e.attach(this, !persist);
    this.topologyChanged();
    if (persist) this.exchangeCreated(e);
    if (persist && this.writes(e)) {
      const se: StoredExchange = {
        vhost: this.name,
        name: e.name,
        type: e.type,
        autoDelete: e.autoDelete,
        internal: e.internal,
        arguments: writeTableBytes(e.arguments),
        user: e.user,
      };
      if (!e.durable) se.durable = false;
      this.store.putDefinition('exchange', definitionId.exchange(this.name, e.name), se);
    }
    return e;
  }

  /** exchange.created, as 3.10.8 tells it (for a new vhost's standard exchanges too). */
  exchangeCreated(e: Exchange): void {
    this.events.emit('exchange.created', () => [
      ['user_who_performed_action', this.events.who],
      ['policy', e.policy?.name ?? ''],
      ['arguments', { terms: e.arguments }],
      ['internal', e.internal],
      ['auto_delete', e.autoDelete],
      ['durable', e.durable],
      ['type', e.type],
      ['name', e.name],
      ['vhost', this.name],
    ]);
  }

  deleteExchange(e: Exchange): void {
    if (e.deleted) return;
    e.deleted = true;
    e.detach();
    this.exchangeDeleting(e);
    this.exchanges.delete(e.name);
    this.exchangeDeleted(e);
    for (const b of [...e.bindings.values()]) this.removeBinding(b);
    for (const b of [...e.inbound]) this.removeBinding(b);
    if (this.writes(e)) this.store.deleteDefinition('exchange', definitionId.exchange(this.name, e.name));
    this.exchangeGone(e);
  }

  /**
   * An exchange's deletion, as 3.10.8 tells it: a runtime parameter marking it in progress set
   * (exchangeDeleting), exchange.deleted (exchangeDeleted), its bindings, the parameter cleared
   * (exchangeGone).
   */
  exchangeDeleting(e: Exchange): void {
    const ev = this.events;
    ev.emit('parameter.set', () => [
      ['user_who_performed_action', ev.who],
      ['value', true],
      ['name', e.name],
      ['component', 'exchange-delete-in-progress'],
      ['vhost', this.name],
    ]);
  }

  exchangeDeleted(e: Exchange): void {
    const ev = this.events;
    ev.emit('exchange.deleted', () => [['user_who_performed_action', ev.who], ['name', e.name], ['vhost', this.name]]);
  }

  exchangeGone(e: Exchange): void {
    const ev = this.events;
    ev.emit('parameter.cleared', () => [
      ['user_who_performed_action', ev.who],
      ['name', e.name],
      ['component', 'exchange-delete-in-progress'],
      ['vhost', this.name],
    ]);
  }

  /**
   * consumer.deleted, as 3.10.8 tells it (channel: the consumer's channel's process id; who: null
   * when 3.10.8 names nobody, as for a channel's own note of a consumer its deleted queue took away).
   */
  consumerDeleted(c: Consumer, channel: string, who: string | null = this.events.who): void {
    this.events.emit('consumer.deleted', () => {
      const f: EventFields = [
        ['queue', c.queue.name],
        ['vhost', this.name],
        ['channel', channel],
        ['consumer_tag', c.tag],
      ];
      if (who !== null) f.unshift(['user_who_performed_action', who]);
      return f;
    });
  }

  /** Binds; returns whether the binding is written (and so its bind-ok waits for the store). */
  addBinding(source: Exchange, destination: Destination, routingKey: string, args: FieldTable, persist = true): boolean {
    // Most bindings have no arguments: they share one empty table rather than keep the decoded one.
    const b: Binding = { source, destination, routingKey, arguments: args.size === 0 ? NO_ARGUMENTS : sortedArguments(args), routeMark: 0 };
    if (!source.bind(b)) return false;
    if (source.readsHeaders) this.headersBindings++;
    if (isQueue(destination)) destination.bindings.add(b);
    else destination.inbound.add(b);
    this.topologyChanged();
    // Another node's binding applied here: that node replays what it kept.
    if (persist) {
      this.replay(b);
      this.events.emit('binding.created', () => this.bindingFields(b));
    }
    const written = this.writes(b);
    if (persist && written) {
      const sb = this.stored(b);
      this.store.putDefinition('binding', definitionId.binding(sb), sb);
    }
    return written;
  }

  private bindingFields(b: Binding, who = this.events.who): EventFields {
    return [
      ['user_who_performed_action', who],
      ['vhost', this.name],
      ['arguments', { terms: b.arguments }],
      ['routing_key', b.routingKey],
      ['destination_kind', isQueue(b.destination) ? 'queue' : 'exchange'],
      ['destination_name', b.destination.name],
      ['source_kind', 'exchange'],
      ['source_name', b.source.name],
    ];
  }

  /** ExchangeHost: a delayed message's release, routed as a publish (no publisher waits for it). */
  publishDue(exchange: Exchange, msg: Message, extraKeys?: string[]): void {
    try {
      this.publish(exchange, msg, extraKeys);
    } catch (err) {
      // On a timer, with no channel to close: a queue that cannot take the body (a cluster's,
      // whose messages travel between nodes as NATS messages) does not get it; the others neither.
      this.log.warn({ vhost: this.name, exchange: exchange.name, err: err instanceof Error ? err.message : String(err) }, 'a delayed message was not delivered');
    }
  }

  /** ExchangeHost: while a publish is routed, an exchange put the message in the store. */
  heldDurably(): void {
    this.held = true;
  }

  /**
   * What the source of a new binding hands it at once (a recent-history exchange's last messages):
   * each published again, under a new seq, to the queue or through the exchange bound.
   */
  private replay(b: Binding): void {
    const msgs = b.source.replayFor(b);
    if (msgs.length === 0) return;
    const d = b.destination;
    const reached: Queue[] = [];
    for (const m of msgs) {
      const msg = new Message(this.nextSeq(), m.exchange, m.routingKey, m.properties, m.body, m.persistent);
      reached.length = 0;
      if (isQueue(d)) reached.push(d);
      else this.route(d, msg.routingKey, d.readsHeaders ? msg.decoded().headers : undefined, reached, this.newMark(), msg);
      for (const q of reached) {
        q.stats.publish++;
        q.enqueue(msg);
      }
    }
  }

  /** Unbinds; an auto-delete exchange goes with its last binding. */
  removeBinding(b: Binding, tell = true): void {
    if (!b.source.unbind(b)) return;
    if (tell) this.events.emit('binding.deleted', () => this.bindingFields(b));
    if (b.source.readsHeaders) this.headersBindings--;
    if (isQueue(b.destination)) b.destination.bindings.delete(b);
    else b.destination.inbound.delete(b);
    if (this.writes(b)) this.store.deleteDefinition('binding', definitionId.binding(this.stored(b)));
    if (b.source.autoDelete && b.source.bindings.size === 0) this.deleteExchange(b.source);
  }

  findBinding(source: Exchange, destination: Destination, routingKey: string, args: FieldTable): Binding | undefined {
    return source.bindings.get(destination, routingKey, sortedArguments(args));
  }

  private isDurable(q: Queue): boolean {
    return q.durable && !q.exclusiveOwner;
  }

  /**
   * Whether the store keeps an exchange or binding: a durable one (between durable ends), or any
   * in a cluster, whose nodes share transient ones too (Store.sharesTransient).
   */
  private writes(x: Exchange | Binding): boolean {
    if (this.store.sharesTransient) return true;
    if ('durable' in x) return x.durable;
    const d = x.destination;
    return x.source.durable && (isQueue(d) ? this.isDurable(d) : d.durable);
  }

  private stored(b: Binding): StoredBinding {
    return {
      vhost: this.name,
      source: b.source.name,
      destinationKind: isQueue(b.destination) ? 'queue' : 'exchange',
      destination: b.destination.name,
      routingKey: b.routingKey,
      arguments: writeTableBytes(b.arguments),
    };
  }
}
