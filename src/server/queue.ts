// A queue: ready messages in order (or by priority), its consumers served round-robin within their
// prefetch windows, highest consumer priority first; TTL, length limits and dead-lettering.
import process from 'node:process';
import type { FieldTable } from '../frames/index.js';
import type { Consumer } from './consumer.js';
import { deadLetter, type DeathReason } from './dead-letter.js';
import { OwedDeadLetters } from './dead-letter-owed.js';
import type { Binding } from './exchanges/exchange.js';
import type { RangeTotals, ReadMessage, StoredMessage } from '../store/store.js';
import { deliveryModeOf, Message, type Entry } from './message.js';
import { PagedTail, type Backlog, type PagingLimits } from './paged-tail.js';
import { levelStoreName, PriorityTails } from './priority-tails.js';
import { effectiveDefinition, effectiveQueueArguments, type Policy } from './policies.js';
import { LongTimer } from './long-timer.js';
import { checkDeclare, parseQueueArgs, type QueueArgs } from './queue-args.js';
import type { QueueType } from './queue-types/index.js';
import { FifoList, PriorityList, type ReadyList } from './ready-list.js';
import { MessageStats } from './stats.js';
import { StreamLog, type AppendLog } from './stream-log.js';
import type { VHost } from './vhost.js';
import { IdleWatch } from './idle-since.js';

/**
 * Publisher flow control: while a queue that has consumers holds more than BACKLOG_HIGH ready
 * messages, the connections publishing to it are not read from, until it is down to BACKLOG_LOW.
 * On one thread, reading a flood of publishes would otherwise starve the deliveries that drain it.
 * A queue without consumers may grow (up to the memory alarm), as a backlog should.
 */
export const BACKLOG_HIGH = 50_000;
export const BACKLOG_LOW = 25_000;
/**
 * The same in body bytes, for large messages: 50,000 messages of 1 MiB would be 50 GB. A queue
 * that pages keeps its backlog under half its page-out bytes (a consumer that keeps up is then fed
 * from memory and nothing is paged); one that does not, under BACKLOG_HIGH_BYTES.
 */
export const BACKLOG_HIGH_BYTES = 32 * 1024 * 1024;

/** A publishing connection the queue can pause and resume. */
export interface Throttled {
  unthrottle(q: Queue): void;
}

/** The last Queue.serial given. */
let queueSerial = 0;

/** What a queue needs to know of the connection that owns it exclusively. */
export interface QueueOwner {
  readonly id: number;
  /** The owning connection's process id, as RabbitMQ names it in events (owner_pid). */
  readonly pid?: string;
}

export interface QueuePlacement {
  /** The node the queue runs on ('' while none is known: unavailable). */
  node: string;
  /** A replicated queue's stream: its leader's and members' NATS servers. */
  leader?: string;
  members?: string[];
  /** Of the members, the nodes running now. */
  online?: string[];
}

export interface QueueSpec {
  name: string;
  durable: boolean;
  exclusiveOwner: QueueOwner | null;
  autoDelete: boolean;
  arguments: FieldTable;
}

export class Queue {
  readonly name: string;
  readonly durable: boolean;
  readonly exclusiveOwner: QueueOwner | null;
  readonly autoDelete: boolean;
  /** The arguments it was declared with. */
  readonly arguments: FieldTable;
  /** The arguments in effect: the declared ones merged with its policy (see applyPolicy). */
  args: QueueArgs;
  /** The policy and the operator policy that apply to it (policies.ts), or null. */
  policy: Policy | null = null;
  operatorPolicy: Policy | null = null;
  /** classic or quorum: where the two differ, the queue asks its type (queue-types/). */
  readonly type: QueueType;
  /** The type counts returns and adds x-delivery-count to deliveries (quorum). */
  readonly countsDeliveries: boolean;
  /** The type stores every message whatever its delivery_mode (quorum). */
  private readonly persistAll: boolean;
  /** quorum x-overflow=reject-publish: over the limit, refusing until at most 80% of it (rabbit_fifo). */
  private rejecting = false;
  readonly ready: ReadyList;
  /** Sorted by consumer priority, highest first; registration order within a priority. */
  readonly consumers: Consumer[] = [];
  /** Bindings with this queue as destination, dropped with it. */
  readonly bindings = new Set<Binding>();
  deleted = false;
  /** The mark of the last publish that reached it (VHost.route). */
  routeMark = 0;
  readonly stats = new MessageStats();
  /** Delivered and not yet acked, across all channels. */
  unackedCount = 0;
  /** Body bytes of the messages counted in unackedCount. */
  unackedBytes = 0;
  /** The part of unackedCount (and unackedBytes) published persistent (messages_persistent). */
  unackedPersistent = 0;
  unackedPersistentBytes = 0;
  /** When the queue was last declared, published to, consumed from or read (x-expires counts from it). */
  lastUsedAt = Date.now();
  private rr = 0;
  private dispatchScheduled = false;
  private readonly dispatchNow = (): void => this.dispatch();
  private expiryTimer: LongTimer | null = null;
  private unusedTimer: LongTimer | null = null;
  private readonly throttled = new Set<Throttled>();
  /** Where ready messages past the paging limits go; null for a queue kept wholly in memory. */
  private readonly tail: Backlog | null;
  /**
   * A priority queue's store names, one per level (levelStoreName), when the store keeps them
   * apart: each level's messages are a range of their own, so each level pages on its own. null
   * for other queues, whose messages are all under the queue's name.
   */
  private readonly levelNames: string[] | null;
  /** Seqs of messages under the queue's own name: an earlier version stored every level there. */
  private legacy: Set<number> | null = null;
  /**
   * x-max-length drop-head with the head on disk (a FIFO queue's tail): how many of the oldest
   * paged messages are dropped already as far as counts go, dead-lettered ('maxlen') as they are
   * read back. RabbitMQ drops at each publish; without this the queue counted past its limit until
   * the reads caught up. (A priority queue's drops wait for the reads: which level's head they
   * take depends on what arrives meanwhile.)
   */
  private headDrops = 0;
  private readonly paging: PagingLimits | null;
  /** Messages read back at the start (the management API's backing_queue_status counts them as taken in). */
  recoveredCount = 0;
  /** Recovered past x-delivery-limit (overDeliveryLimit): dead-lettered once everything is back (startTimers). */
  private pastLimit: Entry[] | null = null;
  /** After an unclean shutdown, messages recovered with a seq below this come back redelivered. */
  private redeliverBelow = 0;
  /** Set at shutdown: no timer or page read may change the queue once its totals are taken. */
  private frozen = false;
  /** A stream's log (x-queue-type: stream): it holds the messages instead of the ready list. */
  readonly stream: AppendLog | null;
  /** basic.get callers waiting for a page to come back from the store. */
  private headWaiters: (() => void)[] = [];
  /** Pooled bodies the store may still read, by seq: what gives each back (putMessage). */
  private readonly storing = new Map<number, (failed: boolean) => void>();
  /** Quorum queues: dead letters owed at least once (dead-letter-owed.ts); null for other types. */
  private readonly owed: OwedDeadLetters | null;
  /** The dead-letter handler in effect is at-least-once (configureDeadLettering). */
  private atLeastOnce = false;
  /** Messages written to the store and read back from it (rabbitmqctl's disk_writes, disk_reads). */
  diskWrites = 0;
  diskReads = 0;
  /** Numbers queue objects in this process, for the pid rabbitmqctl's list_queues prints. */
  readonly serial = ++queueSerial;
  /** The API's idle_since (idle-since.ts). */
  readonly idle = new IdleWatch();

  /** A count that moves whenever the queue works: declared, published to, delivered from, read, acked. */
  get work(): number {
    const s = this.stats;
    return this.lastUsedAt + s.publish + s.deliver + s.get + s.getEmpty + s.ack;
  }

  constructor(
    readonly vhost: VHost,
    spec: QueueSpec,
    /** Makes a stream's log where it is not this node's own (a cluster's replicated one). */
    streamLog?: (q: Queue) => AppendLog,
  ) {
    this.name = spec.name;
    this.durable = spec.durable;
    this.exclusiveOwner = spec.exclusiveOwner;
    this.autoDelete = spec.autoDelete;
    this.arguments = spec.arguments;
    this.args = checkDeclare({ ...spec, exclusive: spec.exclusiveOwner !== null }, vhost.name);
    this.type = this.args.type;
    this.persistAll = this.type.persistsAll;
    this.countsDeliveries = this.type.countsDeliveries;
    const max = this.args.maxPriority;
    const levels = max !== undefined ? new PriorityList(max) : null;
    this.ready = levels ?? new FifoList();
    this.stream = this.type.name === 'stream' ? (streamLog?.(this) ?? new StreamLog(this)) : null;
    // A priority queue's order is not its seq order: it pages by level, where the store can keep
    // each level apart; elsewhere (a cluster's replicated queue) it stays in memory.
    this.levelNames = levels && vhost.store.keepsLevelsApart ? Array.from({ length: max! + 1 }, (_, l) => levelStoreName(spec.name, l)) : null;
    this.paging = (!levels || this.levelNames) && !this.stream ? vhost.paging : null;
    if (!this.paging) this.tail = null;
    else if (levels && this.levelNames) this.tail = new PriorityTails(vhost.store, vhost.name, this.levelNames, levels);
    else this.tail = new PagedTail(vhost.store, vhost.name, spec.name);
    this.owed = this.type.name === 'quorum' ? new OwedDeadLetters(this) : null;
    this.configureDeadLettering();
    this.touch();
  }

  /**
   * Which dead-letter handler applies, as rabbit_quorum_queue decides it (RabbitMQ 3.10.8's log
   * texts): at-least-once needs a dead-letter exchange and x-overflow reject-publish, otherwise
   * the queue falls back to at-most-once (or to none). What was owed at least once is deleted when
   * a policy change takes that handler away, as RabbitMQ 3.10.8 does.
   */
  private configureDeadLettering(): void {
    if (!this.owed) return;
    const a = this.args;
    const was = this.atLeastOnce;
    let now = false;
    if (a.deadLetterStrategy === 'at-least-once') {
      const where = `queue '${this.name}' in vhost '${this.vhost.name}'`;
      const log = { vhost: this.vhost.name, queue: this.name };
      if (a.deadLetterExchange === undefined) {
        this.vhost.log.warn(log, `Disabling dead-lettering for ${where} despite configured dead-letter-strategy 'at-least-once' because dead-letter-exchange is not configured.`);
      } else if (a.overflow !== 'reject-publish') {
        this.vhost.log.warn(
          log,
          `Falling back to dead-letter-strategy at-most-once for ${where} because configured dead-letter-strategy at-least-once is incompatible with effective overflow strategy ${a.overflow}. To enable dead-letter-strategy at-least-once, set overflow strategy to reject-publish.`,
        );
      } else now = true;
    }
    this.atLeastOnce = now;
    if (was && !now) this.owed.dropAll();
  }

  /** At-least-once dead letters not yet taken by all their targets (management's messages_dlx). */
  get deadLetterCount(): number {
    return this.owed?.count ?? 0;
  }

  get deadLetterBytes(): number {
    return this.owed?.bytes ?? 0;
  }

  /** Another node owns the queue now (a cluster): the dead letters it owes are its to forward. */
  forgetOwed(): void {
    this.owed?.release();
  }

  /** Tries the owed dead letters again (a topology change or the retry timer). */
  retryDeadLetters(): void {
    if (!this.deleted && !this.frozen) this.owed?.retry();
  }

  /**
   * The one hook for policies: recomputes the arguments in effect from the declared ones and the
   * policies (RabbitMQ's precedence, in policies.ts), and applies a lower length limit and a new
   * expiry at once. Messages keep the expiry they were enqueued with, as in RabbitMQ.
   */
  applyPolicy(policy: Policy | null, operatorPolicy: Policy | null = null): void {
    if (policy === this.policy && operatorPolicy === this.operatorPolicy) return;
    this.policy = policy;
    this.operatorPolicy = operatorPolicy;
    try {
      const definition = effectiveDefinition(policy, operatorPolicy);
      this.args = parseQueueArgs(this.name, this.vhost.name, effectiveQueueArguments(this.arguments, definition, this.type.name));
    } catch {
      this.args = parseQueueArgs(this.name, this.vhost.name, this.arguments);
    }
    if (this.deleted || this.frozen) return;
    this.stream?.retentionChanged?.();
    this.configureDeadLettering();
    if (this.args.overflow === 'drop-head') this.dropHeads();
    // x-expires may have changed or gone: restart (or stop) the countdown.
    this.unusedTimer?.clear();
    this.unusedTimer = null;
    this.touch();
  }

  /**
   * The largest body the queue can take, beyond the broker's max_message_size: unbounded here; a
   * cluster's queue whose messages travel between nodes is bounded by what a NATS message holds.
   */
  get maxBody(): number {
    return Infinity;
  }

  /**
   * Where the queue runs, for the management API: a single node has no say (null); a cluster
   * node's queue names its owner, and a replicated one its stream's members.
   */
  get placement(): QueuePlacement | null {
    return null;
  }

  /** Whether this queue keeps msg in the store: persistent messages on durable queues only. */
  persists(msg: Message): boolean {
    return this.persistAll || (this.durable && msg.persistent);
  }

  /** Ready messages, after handing on what consumers can take and dropping any that expired. */
  get messageCount(): number {
    this.dispatchPending();
    this.expire();
    return this.readyCount;
  }

  /**
   * The outcome of the latest enqueue() when it is known only later (a queue another node of a
   * cluster owns answers whether its x-overflow took the message): true taken, false refused.
   * Undefined when enqueue()'s own answer is final, as it always is for a local queue.
   */
  takeVerdict(): Promise<boolean> | undefined {
    return undefined;
  }

  /** Consumers of the queue wherever they are (in a cluster, a non-owner node learns them from the owner). */
  get consumerCount(): number {
    return this.consumers.length;
  }

  /** Deliveries not yet acknowledged, wherever they went (see consumerCount). */
  get unackedTotal(): number {
    return this.unackedCount;
  }

  /** Ready messages, in memory and paged out. */
  get readyCount(): number {
    if (this.stream) return this.stream.count;
    return this.ready.length + (this.tail?.count ?? 0) - this.headDrops;
  }

  get readyBytes(): number {
    if (this.stream) return this.stream.bytes;
    return this.ready.bytes + (this.tail?.bytes ?? 0);
  }

  /** Ready messages that are in the store only, and their bodies' bytes. */
  get pagedOut(): { count: number; bytes: number } {
    return { count: (this.tail?.count ?? 0) - this.headDrops, bytes: this.tail?.bytes ?? 0 };
  }

  /** Of pagedOut, the transient messages (paged to a page file, not kept in the store for good). */
  get pagedOutTransient(): number {
    return Math.max(0, this.pagedOut.count - (this.tail?.stored.count ?? 0));
  }

  /** Messages kept in the store, ready and unacked (RabbitMQ's messages_persistent), and their bytes. */
  get persistentTotals(): { count: number; bytes: number } {
    if (this.stream || (!this.durable && !this.persistAll)) return { count: 0, bytes: 0 };
    if (this.persistAll) return { count: this.readyCount + this.unackedCount, bytes: this.readyBytes + Math.max(0, this.unackedBytes) };
    return {
      count: this.ready.persistent + (this.tail?.stored.count ?? 0) + this.unackedPersistent,
      bytes: this.ready.persistentBytes + (this.tail?.stored.bytes ?? 0) + this.unackedPersistentBytes,
    };
  }

  /** The store name a message of this queue is kept under (see levelNames). */
  private storeName(m: Message): string {
    const names = this.levelNames;
    if (names === null || (this.legacy !== null && this.legacy.has(m.seq))) return this.name;
    return names[Math.min(m.priority(), names.length - 1)]!;
  }

  /** Every store name this queue's messages may be under, for its deletion. */
  get storeNames(): string[] {
    return this.levelNames ? [this.name, ...this.levelNames] : [this.name];
  }

  /** The record of an entry in the store. */
  private record(e: Entry, redelivered = e.redelivered, body = e.msg.content): StoredMessage {
    return Queue.recordOf(e.msg, e.expiresAt, redelivered, body, e.deliveryCount);
  }

  /** The record of message m in the store (record() of an entry, or of one not made: pageOut). */
  private static recordOf(m: Message, expiresAt: number, redelivered = false, body = m.content, deliveryCount?: number): StoredMessage {
    const r: StoredMessage = { seq: m.seq, redelivered, exchange: m.exchange, routingKey: m.routingKey, properties: m.properties, body, expiresAt };
    if (deliveryCount !== undefined) r.deliveryCount = deliveryCount;
    if (m.bccKeys) r.bcc = m.bccKeys;
    return r;
  }

  /**
   * Takes a message in; false when x-overflow refused it (reject-publish), so the publisher's
   * confirm becomes a nack.
   */
  enqueue(msg: Message): boolean {
    msg.queued();
    if (this.stream) {
      if (!this.deleted) this.stream.append(msg);
      return true;
    }
    const a = this.args;
    const limited = a.maxLength !== undefined || a.maxLengthBytes !== undefined;
    // Messages a waiting consumer is about to take do not count against the length limit.
    if (limited && this.consumers.length > 0 && this.ready.length > 0) this.dispatch();
    const full =
      (a.maxLength !== undefined && this.readyCount >= a.maxLength) ||
      (a.maxLengthBytes !== undefined && this.readyBytes + msg.bodySize > a.maxLengthBytes);
    const expiresAt = this.expiryOf(msg);
    if (limited && a.overflow === 'reject-publish' && this.type.rejectsOverLimit) return this.enqueueOverLimit(msg, { msg, redelivered: false, expiresAt });
    if (full && a.overflow !== 'drop-head') {
      if (a.overflow === 'reject-publish-dlx') this.deadLetter({ msg, redelivered: false, expiresAt }, 'maxlen');
      return false;
    }
    if (this.tail && this.tail.mustPage(msg, this.ready, this.paging!)) {
      // No entry: a paged message is only its record until it is read back.
      this.pageOut(msg, expiresAt, null);
      if (full) this.dropHeads();
      this.pageIn();
      return true;
    }
    const entry: Entry = { msg, redelivered: false, expiresAt };
    if (this.persists(msg)) this.putMessage(entry);
    this.ready.push(entry);
    if (full) this.dropHeads();
    if (entry.expiresAt !== 0) this.arrivedWithTtl();
    if (this.consumers.length > 0) this.scheduleDispatch();
    return true;
  }

  /**
   * rabbit_fifo's reject-publish: a message is taken while the queue is not over its limit (so it
   * may go one past it); once over, publishes are refused until the queue is at most 80% of the
   * limit (RabbitMQ 3.10.8: max-length 2 took 3 messages, nacked the 4th).
   */
  private enqueueOverLimit(msg: Message, entry: Entry): boolean {
    const a = this.args;
    // Dead letters owed at least once count as the queue's (rabbit_fifo): that is what bounds them
    // (RabbitMQ 3.10.8, x-max-length 3, 1 ready and 2 owed: took one more message, then nacked).
    const count = (): number => this.readyCount + this.deadLetterCount;
    const bytes = (): number => this.readyBytes + this.deadLetterBytes;
    if (this.rejecting) {
      // rabbit_fifo's is_below_soft_limit: at most 80% (3.10.8, x-max-length 5: refusing at 6,
      // took a publish again at 4, and with 4 ready and 2 owed still refused).
      const low =
        (a.maxLength === undefined || count() <= Math.trunc(a.maxLength * 0.8)) &&
        (a.maxLengthBytes === undefined || bytes() <= Math.trunc(a.maxLengthBytes * 0.8));
      if (!low) return false;
      this.rejecting = false;
    }
    this.admit(msg, entry);
    if ((a.maxLength !== undefined && count() > a.maxLength) || (a.maxLengthBytes !== undefined && bytes() > a.maxLengthBytes)) {
      this.rejecting = true;
    }
    return true;
  }

  /** Takes an accepted entry in: paged out, or in memory (stored if it persists). */
  private admit(msg: Message, entry: Entry): void {
    if (this.tail && this.tail.mustPage(msg, this.ready, this.paging!)) {
      this.pageOut(msg, entry.expiresAt, entry);
      this.pageIn();
      return;
    }
    if (this.persists(msg)) this.putMessage(entry);
    this.ready.push(entry);
    if (entry.expiresAt !== 0) this.arrivedWithTtl();
    if (this.consumers.length > 0) this.scheduleDispatch();
  }

  /**
   * A message with a TTL was just pushed. RabbitMQ hands a message that finds the queue empty to a
   * consumer with room at once, and its TTL no longer applies; here deliveries otherwise wait for
   * the end of the tick (scheduleDispatch), by when a TTL of a millisecond may have run out.
   * Celery sends a task with expires=0.001 as expiration '1' and counts on the worker getting it
   * (to revoke it and tell the client): 2 of 30 such tasks were lost here, none on RabbitMQ 3.10.8.
   * So such a message is handed on now, TTL 0 included; one that waits behind others, or for a
   * consumer, expires when it reaches the head, as before.
   */
  private arrivedWithTtl(): void {
    if (this.ready.length === 1 && this.consumers.length > 0) {
      const c = this.nextConsumer();
      // (A priority queue's head may be a higher level's paged message: then it waits.)
      const e = c ? this.shift() : undefined;
      if (e) {
        c!.deliver(e);
        return;
      }
    }
    this.expire();
  }

  /** Pages a message just taken in out to the store: its entry, if it has one yet (else a new message's). */
  private pageOut(msg: Message, expiresAt: number, entry: Entry | null): void {
    if (expiresAt !== 0 && expiresAt <= Date.now()) {
      // Already expired, and behind others: it could only expire on reaching the head.
      this.deadLetter(entry ?? { msg, redelivered: false, expiresAt }, 'expired');
      return;
    }
    const stored = this.persists(msg);
    const rec = entry ? this.record(entry) : Queue.recordOf(msg, expiresAt);
    this.diskWrites++;
    if (stored) this.vhost.store.putMessage(this.vhost.name, this.storeName(msg), rec);
    this.tail!.add(rec, stored, msg);
  }

  /** The next ready message in memory; reading the next page starts when memory runs low. */
  private shift(): Entry | undefined {
    const e = this.ready.shift();
    if (this.tail && this.tail.count > 0) this.pageIn();
    return e;
  }

  /** Reads the oldest paged messages back once the in-memory head runs low (Backlog.wantsRead). */
  private pageIn(): void {
    const t = this.tail!;
    const lim = this.paging!;
    if (this.deleted || this.frozen || !t.wantsRead(this.ready, lim)) return;
    t.read(this.ready, lim)
      .then((page) => {
        if (!page || this.deleted || this.frozen) return;
        this.diskReads += page.length;
        for (const m of page) {
          const msg = new Message(m.seq, m.exchange, m.routingKey, m.properties, m.body, deliveryModeOf(m.properties) === 2);
          if (m.bcc) msg.bccKeys = m.bcc;
          const e = this.readBack(m, msg, false);
          if (m.checkedOut && this.overDeliveryLimit(e)) this.discard(e, 'delivery_limit');
          else if (this.headDrops > 0) {
            this.headDrops--;
            this.discard(e, 'maxlen');
          } else this.ready.push(e);
        }
        this.expire();
        if (this.args.overflow === 'drop-head') this.dropHeads();
        if (this.consumers.length > 0) this.scheduleDispatch();
        // Everything in the page may have expired or been dropped: read on.
        this.pageIn();
      })
      .catch((err: unknown) => lim.log.error({ err, vhost: this.vhost.name, queue: this.name }, 'taking in paged messages failed'))
      .finally(() => {
        // Waiting gets answer once there is a message, or once no read is coming (the tail is
        // empty, the queue gone, or the read failed); a stale read leaves them to the current one.
        if (this.ready.peek() === undefined && t.busy) return;
        for (const w of this.headWaiters.splice(0)) w();
      });
  }

  /**
   * Resolves once the next ready message is in memory (for basic.get, which answers at once
   * otherwise), or undefined when no wait is needed.
   */
  headReady(): Promise<void> | undefined {
    if (this.ready.peek() !== undefined || !this.tail || this.tail.count === 0) return undefined;
    this.pageIn();
    return new Promise<void>((resolve) => this.headWaiters.push(resolve));
  }

  /** x-overflow=drop-head: the oldest messages make room, dead-lettered as 'maxlen'. */
  private dropHeads(): void {
    const a = this.args;
    // With the head paged out, a bytes limit waits for the next page (pageIn calls again); the
    // count limit's drops are owed to it (headDrops).
    while (
      this.ready.length > 0 &&
      ((a.maxLength !== undefined && this.readyCount > a.maxLength) ||
        (a.maxLengthBytes !== undefined && this.readyBytes > a.maxLengthBytes))
    ) {
      const e = this.shift();
      if (!e) break;
      this.discard(e, 'maxlen');
    }
    // The head on disk: what is still past the count limit is owed, dropped once read back.
    if (a.maxLength !== undefined && this.ready.length === 0 && this.tail instanceof PagedTail && this.readyCount > a.maxLength) {
      this.headDrops += this.readyCount - a.maxLength;
    }
  }

  /**
   * Reads this durable queue's messages back from the store: into memory up to the paging limits,
   * the rest left in the store as the paged tail. Expiry times are kept (a TTL counts across a
   * restart); after a crash every message comes back flagged as possibly delivered.
   */
  async recover(cleanShutdown: boolean, redeliverBelow: number, totals?: RangeTotals): Promise<{ count: number; lastSeq: number }> {
    if (this.stream) return this.stream.recover();
    const owedSeq = (await this.owed?.recover()) ?? 0;
    const r = await this.recoverMessages(cleanShutdown, redeliverBelow, totals);
    this.recoveredCount = r.count;
    return { count: r.count, lastSeq: Math.max(r.lastSeq, owedSeq) };
  }

  private async recoverMessages(cleanShutdown: boolean, redeliverBelow: number, totals?: RangeTotals): Promise<{ count: number; lastSeq: number }> {
    this.redeliverBelow = redeliverBelow;
    let count = 0;
    let lastSeq = 0;
    const tail = this.tail;
    if (this.levelNames) {
      // What an earlier version kept under the queue's own name (every level in one range) is read
      // whole, as that version did, and stays there until acked; then each level, highest first,
      // so that memory holds the messages delivered first and the rest stays paged.
      const levels = tail instanceof PriorityTails ? tail.levels : null;
      const legacy = await this.recoverRange(this.name, null, cleanShutdown);
      // (Recovery starts from an empty list: what it holds now is that range.)
      if (legacy.count > 0) this.legacy = new Set(this.ready.toArray().map((e) => e.msg.seq));
      count = legacy.count;
      lastSeq = legacy.lastSeq;
      for (let level = this.levelNames.length - 1; level >= 0; level--) {
        const r = await this.recoverRange(this.levelNames[level]!, levels?.[level] ?? null, cleanShutdown);
        count += r.count;
        lastSeq = Math.max(lastSeq, r.lastSeq);
      }
    } else {
      // A clean shutdown recorded what the store holds past memory: none of it is read now. The
      // whole queue is the paged tail, and its head is read once the broker listens (readHead), as
      // any page is: a restart with a long queue used to read and decode the in-memory part first
      // (65,536 messages: ~320 ms before the port accepted, and the memory held from then on).
      const fifo = tail instanceof PagedTail ? tail : null;
      if (cleanShutdown && fifo && totals) {
        const all = await this.restFromTotals(totals, 0, 0);
        if (all && all.count > 0) {
          fifo.adopt(0, all.count, all.bytes, all.lastSeq);
          return { count: all.count, lastSeq: all.lastSeq };
        }
      }
      ({ count, lastSeq } = await this.recoverRange(this.name, fifo, cleanShutdown, totals));
    }
    if (!cleanShutdown && count > 0 && !this.countsDeliveries) this.redeliverBelow = lastSeq + 1;
    return { count, lastSeq };
  }

  /**
   * A message read back from the store (recovery, a page) as an entry. A classic queue's, after a
   * crash, may have been delivered: flagged redelivered, as RabbitMQ 3.10.8 flags every message a
   * classic queue recovers after one. A quorum queue knows which were out (checkedOut, as RabbitMQ's
   * log does): those come back counted once more, the others as they were (3.10.8: six messages,
   * two delivered unacked, kill -9: those two with x-delivery-count 1, the rest not redelivered).
   */
  private readBack(m: ReadMessage, msg: Message, crashed: boolean): Entry {
    const e: Entry = { msg, redelivered: m.redelivered, expiresAt: m.expiresAt || this.expiryOf(msg) };
    if (m.deliveryCount !== undefined) e.deliveryCount = m.deliveryCount;
    if (!this.countsDeliveries) {
      if (crashed || m.seq < this.redeliverBelow) e.redelivered = true;
    } else if (m.checkedOut) {
      e.deliveryCount = (e.deliveryCount ?? 0) + 1;
      e.redelivered = true;
      // Returned now, as a return would be: a second restart does not count it again.
      this.vhost.store.putRedelivered(this.vhost.name, this.storeName(msg), this.record(e, true));
    }
    return e;
  }

  /**
   * Whether e, counted once more at recovery (out to a consumer when the broker stopped), is past
   * x-delivery-limit: dead-lettered then, as RabbitMQ 3.10.8 does (x-delivery-limit 0, one message
   * held, kill -9: it was in the dead-letter queue after the restart).
   */
  private overDeliveryLimit(e: Entry): boolean {
    const limit = this.args.deliveryLimit;
    return limit !== undefined && (e.deliveryCount ?? 0) > limit;
  }

  /** A quorum queue's message went to a consumer that must settle it (Store.markCheckedOut). */
  checkedOut(e: Entry): void {
    if (this.persists(e.msg)) this.vhost.store.markCheckedOut(this.vhost.name, this.storeName(e.msg), e.msg.seq);
  }

  /**
   * Reads one store range of this queue's messages back, in seq order: into memory while the
   * paging limits allow (all of it without a tail), the rest left in the store as tail's.
   */
  private async recoverRange(
    name: string,
    tail: PagedTail | null,
    cleanShutdown: boolean,
    totals?: RangeTotals,
  ): Promise<{ count: number; lastSeq: number }> {
    const store = this.vhost.store;
    const lim = tail ? this.paging : null;
    let from = 0;
    let count = 0;
    let bytes = 0;
    let lastSeq = 0;
    for (;;) {
      const room = lim ? Math.max(1, lim.messages - this.ready.length) : 10_000;
      const roomBytes = lim ? Math.max(1, lim.bytes - this.ready.bytes) : Infinity;
      const page = await store.readMessages(this.vhost.name, name, from, Math.min(room, 10_000), roomBytes);
      if (page.length === 0) break;
      this.diskReads += page.length;
      for (const m of page) {
        const msg = new Message(m.seq, m.exchange, m.routingKey, m.properties, m.body, true);
        if (m.bcc) msg.bccKeys = m.bcc;
        const e = this.readBack(m, msg, !cleanShutdown);
        if (m.checkedOut && this.overDeliveryLimit(e)) (this.pastLimit ??= []).push(e);
        else this.ready.push(e);
        bytes += m.body.length;
      }
      count += page.length;
      lastSeq = page[page.length - 1]!.seq;
      from = lastSeq + 1;
      if (tail && (this.ready.length >= lim!.messages || this.ready.bytes >= lim!.bytes)) {
        const rest = (await this.restFromTotals(totals, count, bytes)) ?? (await store.countMessages(this.vhost.name, name, from));
        if (rest.count > 0) {
          tail.adopt(from, rest.count, rest.bytes, rest.lastSeq);
          count += rest.count;
          lastSeq = rest.lastSeq;
        }
        break;
      }
    }
    return { count, lastSeq };
  }

  /**
   * The rest of the queue past what recovery read, from the totals a clean shutdown recorded, or
   * null when they cannot be trusted: if anything in the store is newer than they say, count.
   */
  private async restFromTotals(totals: RangeTotals | undefined, count: number, bytes: number): Promise<RangeTotals | null> {
    if (!totals || totals.count < count || totals.bytes < bytes) return null;
    if ((await this.vhost.store.lastSeq(this.vhost.name, this.name)) !== totals.lastSeq) return null;
    return { count: totals.count - count, bytes: totals.bytes - bytes, lastSeq: totals.lastSeq };
  }

  /**
   * At shutdown: what this queue holds in the store, for the next start to skip counting it; null
   * when it is short enough to be read whole anyway, or when unacked messages are still out. The
   * queue is frozen from here on.
   */
  storedTotals(): RangeTotals | null {
    this.stopTimers();
    this.frozen = true;
    const t = this.tail;
    // (A priority queue's levels are counted at the next start instead.)
    if (!(t instanceof PagedTail) || t.stored.count === 0 || !this.durable || this.exclusiveOwner || this.unackedCount > 0) return null;
    const totals = { ...t.stored };
    for (const e of this.ready.toArray()) {
      if (!this.persists(e.msg)) continue;
      totals.count++;
      totals.bytes += e.msg.bodySize;
      totals.lastSeq = Math.max(totals.lastSeq, e.msg.seq);
    }
    return totals;
  }

  /**
   * After a crash, every message recovered then counts as possibly delivered, in every later run
   * too: the paged ones are not rewritten, so the broker stores this bound with the queue.
   */
  get redeliveredBelow(): number {
    return this.redeliverBelow;
  }

  /**
   * After recovery, once the broker listens: reads the head of a queue recovered as all tail (see
   * recoverMessages), so that its expiries, length limits and consumers find it in memory.
   */
  readHead(): void {
    if (this.tail && this.tail.count > 0 && !this.deleted) this.pageIn();
  }

  /** Starts the expiry timers of recovered messages, once everything they may dead-letter to is back. */
  startTimers(): void {
    if (this.deleted) return;
    if (this.pastLimit) {
      for (const e of this.pastLimit) this.discard(e, 'delivery_limit');
      this.pastLimit = null;
    }
    // A queue over its x-max-length (its drops owed at a stop or crash, or a limit lowered by a
    // policy while it was down) drops its head now, as each publish would, once everything it may
    // dead-letter to is back.
    if (this.args.overflow === 'drop-head') this.dropHeads();
    this.armExpiry();
    this.touch();
    this.retryDeadLetters();
  }

  /** Rewrites the in-memory messages requeued since they were stored, so a restart still flags them. */
  persistRedeliveredFlags(): void {
    if (!this.durable || this.exclusiveOwner) return;
    for (const e of this.ready.toArray()) {
      if (e.redelivered && this.persists(e.msg)) this.vhost.store.putRedelivered(this.vhost.name, this.storeName(e.msg), this.record(e, true));
    }
  }

  private expiryOf(msg: Message): number {
    const ttl = Math.min(this.args.messageTtl ?? Infinity, msg.expiration() ?? Infinity);
    return ttl === Infinity ? 0 : Date.now() + ttl;
  }

  /**
   * Hands a message to the store. A pooled body (frames/body-pool.ts) is held, not pinned, while
   * the store may read it: until the write that has it is done (flush() resolves then), or until an
   * ack cancels the write before it started (settle).
   */
  private putMessage(entry: Entry): void {
    this.diskWrites++;
    const m = entry.msg;
    const store = this.vhost.store;
    // A consumer that keeps up may ack it before its write, which then never happens (write-hold.ts).
    const toConsumer = m.bodySize >= store.ackHoldFrom && this.consumers.length > 0 && !this.overloaded;
    const name = this.storeName(m);
    if (!m.pooled) return store.putMessage(this.vhost.name, name, this.record(entry), toConsumer);
    store.putMessage(this.vhost.name, name, this.record(entry, entry.redelivered, m.storable()), toConsumer);
    // An ack before the write gives the body back at once (settle); else the write's end does.
    let held = true;
    const release = (failed: boolean): void => {
      if (!held) return;
      held = false;
      this.storing.delete(m.seq);
      m.unstored(failed);
    };
    this.storing.set(m.seq, release);
    // Not hurried, and may wait for acks: a publisher that needs the write soon says so itself.
    store.flush(false, true).then(
      () => release(false),
      () => release(true),
    );
  }

  /**
   * Whether this queue's being done with a message may confirm it before the store has written it
   * (confirms.ts ConfirmWait): a classic queue's. Quorum queues and streams confirm on the write
   * only, as RabbitMQ's do once their log has it; a queue of a cluster on its replication.
   */
  get settlesConfirms(): boolean {
    return !this.persistAll && this.stream === null;
  }

  /** Forgets a message for good (acked, or delivered without ack). */
  settle(entry: Entry): void {
    if (this.stream) return; // a stream removes nothing on ack
    if (!this.deleted && this.persists(entry.msg)) {
      // Never written (acked before its batch): the store will not read a pooled body now.
      if (this.vhost.store.deleteMessage(this.vhost.name, this.storeName(entry.msg), entry.msg.seq) && entry.msg.pooled) this.storing.get(entry.msg.seq)?.(false);
      entry.msg.confirmWait?.queueDone();
    }
  }

  /** Drops a message, dead-lettering it when the queue has a dead-letter exchange. */
  discard(entry: Entry, reason: DeathReason): void {
    if (this.stream) return;
    if (this.deleted) return;
    this.deadLetter(entry, reason);
    this.settle(entry);
  }

  /** Dead-letters by the handler in effect: at least once (kept until taken) or at most once. */
  private deadLetter(entry: Entry, reason: DeathReason): void {
    const strategy = this.atLeastOnce ? 'at_least_once' : this.args.deadLetterExchange !== undefined ? 'at_most_once' : 'disabled';
    this.vhost.counters.deadLettered(this.type.name, strategy, reason);
    if (this.atLeastOnce) this.owed!.hold(entry, reason);
    else deadLetter(this, entry, reason);
  }

  /**
   * Puts unacked messages back, marked redelivered, in their original order ahead of newer ones.
   * released: their channel or connection closed (their consumer is gone), rather than a nack, a
   * reject or basic.recover returning them; a quorum queue tells the two apart (returnToFront).
   */
  requeue(entries: Entry[], released = false): void {
    if (this.stream) return; // unacked stream deliveries stay in the log: nothing to put back
    if (this.deleted || entries.length === 0) return;
    if (this.countsDeliveries && !this.frozen) return released ? this.returnToFront(entries) : this.returnToBack(entries);
    entries.sort((a, b) => a.msg.seq - b.msg.seq);
    for (const e of entries) e.redelivered = true;
    // A quorum queue shutting down, the store past its last batch: back in place, as a classic queue's.
    if (this.countsDeliveries) return this.ready.putBack(entries);
    this.ready.putBack(entries);
    if (this.args.overflow === 'drop-head') this.dropHeads();
    this.armExpiry();
    this.scheduleDispatch();
  }

  /**
   * Quorum queues (rabbit_fifo, as RabbitMQ 3.10.8 behaves): every return counts as a delivery
   * attempt. One a consumer asks for (nack or reject with requeue, basic.recover) sends the message
   * to the back of the queue, behind those waiting (3.10.8: five messages, the first three taken
   * and nacked, came back m3 m4 m0 m1 m2); a consumer gone, to the front (returnToFront). Past
   * x-delivery-limit it is dead-lettered ('delivery_limit') or dropped instead. Each return is
   * stored at once, as RabbitMQ's log records it, so the count survives a crash; the message takes
   * a new seq, which is its place in the store's order.
   */
  private returnToBack(entries: Entry[]): void {
    const store = this.vhost.store;
    for (const e of entries) {
      if (!this.countDelivery(e)) continue;
      const old = e.msg;
      store.deleteMessage(this.vhost.name, this.name, old.seq);
      const msg = new Message(this.vhost.nextSeq(), old.exchange, old.routingKey, old.properties, old.body, old.persistent);
      if (old.bccKeys) msg.bccKeys = old.bccKeys;
      this.admit(msg, { msg, redelivered: true, expiresAt: e.expiresAt, deliveryCount: e.deliveryCount });
    }
    if (this.args.overflow === 'drop-head') this.dropHeads();
  }

  /**
   * Quorum queues: messages whose consumer went away with them unacked (its channel or connection
   * closed) come back ahead of every waiting message, in their order, each delivery counted, as
   * RabbitMQ 3.10.8's rabbit_fifo returns a consumer's messages when it is down (five messages,
   * m0 and m1 taken, m0 nacked to the back, m2 taken, the channel closed: m1 m2 m3 m4 m5 m0). They
   * keep their place in the store, with their count (LevelStore.putRedelivered).
   */
  private returnToFront(entries: Entry[]): void {
    const kept: Entry[] = [];
    for (const e of entries) {
      if (!this.countDelivery(e)) continue;
      e.redelivered = true;
      if (this.persists(e.msg)) this.vhost.store.putRedelivered(this.vhost.name, this.storeName(e.msg), this.record(e, true));
      kept.push(e);
    }
    if (kept.length === 0) return;
    kept.sort((a, b) => a.msg.seq - b.msg.seq);
    this.ready.putBack(kept);
    if (this.args.overflow === 'drop-head') this.dropHeads();
    this.armExpiry();
    this.scheduleDispatch();
  }

  /** Counts one more delivery of e; past x-delivery-limit it is dead-lettered or dropped (false). */
  private countDelivery(e: Entry): boolean {
    const count = (e.deliveryCount ?? 0) + 1;
    e.deliveryCount = count;
    const limit = this.args.deliveryLimit;
    if (limit === undefined || count <= limit) return true;
    this.discard(e, 'delivery_limit');
    return false;
  }

  /**
   * Forgets the ready messages without settling them (a cluster node whose queue another node
   * owns now: the new owner has them); paged ones in this node's store go.
   */
  protected forgetReady(): void {
    this.ready.clear();
    this.tail?.clear();
    this.headDrops = 0;
  }

  /** Removes the ready messages (not the unacked ones) and returns how many there were. */
  purge(): number {
    this.dispatchPending();
    const all = this.ready.clear();
    for (const e of all) this.settle(e);
    const paged = (this.tail?.clear() ?? 0) - this.headDrops;
    this.headDrops = 0;
    this.releasePublishers();
    return all.length + paged;
  }

  /**
   * The queue is being deleted: drops its ready messages and timers. Returns how many messages
   * were ready, and whether the store holds records of it (paged or persistent) to drop.
   */
  destroy(): { count: number; stored: boolean } {
    this.dispatchPending();
    // RabbitMQ 3.10.8 answers a stream's queue.delete with message_count 0, whatever it held.
    const count = this.stream ? 0 : this.readyCount;
    this.deleted = true;
    this.stream?.destroy();
    this.stopTimers();
    this.releasePublishers();
    this.ready.clear();
    const stored = (this.tail?.used ?? false) || this.stream !== null;
    this.tail?.drop();
    this.headDrops = 0;
    for (const w of this.headWaiters.splice(0)) w();
    return { count, stored };
  }

  /** basic.get: the next ready message in memory, if any (see headReady). */
  take(): Entry | undefined {
    this.dispatchPending();
    this.touch();
    this.expire();
    return this.shift();
  }

  /**
   * Whether a new consumer (exclusive or not) is refused: someone consumes exclusively, or it
   * wants the queue to itself and someone already consumes.
   */
  inExclusiveUse(exclusive: boolean): boolean {
    return this.consumers.some((c) => c.exclusive) || (exclusive && this.consumers.length > 0);
  }

  /**
   * Counts kept elsewhere (a cluster node's queue another node owns) brought up to date before a
   * declare-ok says them; undefined when messageCount and consumerCount are current already.
   */
  freshCounts(): Promise<void> | undefined {
    return undefined;
  }

  /** A purge another node carries out (the queue's owner in a cluster), resolving to its count; undefined here. */
  purgeElsewhere(): Promise<number> | undefined {
    return undefined;
  }

  /**
   * Whether the consumers this node does not see allow a new one: undefined when this node sees
   * them all (here, always); a cluster asks the queue's owner.
   */
  consumeVerdict(_exclusive: boolean): Promise<boolean> | undefined {
    return undefined;
  }

  addConsumer(c: Consumer): void {
    this.dispatchPending();
    this.stream?.addReader(c);
    let i = this.consumers.length;
    while (i > 0 && this.consumers[i - 1]!.priority < c.priority) i--;
    this.consumers.splice(i, 0, c);
    this.touch();
    this.scheduleDispatch();
  }

  /** Returns true when the queue went away because its last consumer did and it is auto-delete. */
  removeConsumer(c: Consumer): boolean {
    const i = this.consumers.indexOf(c);
    if (i < 0) return false;
    this.consumers.splice(i, 1);
    this.stream?.removeReader(c);
    if (this.consumers.length === 0 && this.autoDelete && !this.deleted) {
      this.vhost.deleteQueue(this);
      return true;
    }
    this.touch();
    this.releasePublishers();
    // With a single active consumer, the next one in line takes over what is ready.
    this.scheduleDispatch();
    return false;
  }

  /** x-expires: (re)starts the countdown to deleting the queue while it has no consumers. */
  touch(): void {
    this.lastUsedAt = Date.now();
    if (this.args.expires === undefined || this.deleted) return;
    this.unusedTimer?.clear();
    this.unusedTimer = null;
    if (this.consumers.length > 0) return;
    this.unusedTimer = new LongTimer(this.lastUsedAt + this.args.expires, () => this.vhost.deleteQueue(this));
  }

  /** Stops the queue's timers once it is deleted. */
  stopTimers(): void {
    this.unusedTimer?.clear();
    this.expiryTimer?.clear();
    this.unusedTimer = this.expiryTimer = null;
    this.owed?.stop();
  }

  /** Drops expired messages from the head (RabbitMQ expires messages only when they reach it). */
  private expire(): void {
    let head = this.ready.peek();
    if (!head || head.expiresAt === 0) return;
    const now = Date.now();
    while (head && head.expiresAt !== 0 && head.expiresAt <= now) {
      this.discard(this.shift()!, 'expired');
      head = this.ready.peek();
    }
    this.armExpiry();
  }

  /** Keeps one timer, for when the head message expires, so expiry happens without traffic. */
  private armExpiry(): void {
    const head = this.ready.peek();
    const at = head?.expiresAt ?? 0;
    if (at === 0 || (this.expiryTimer && this.expiryTimer.at <= at)) return;
    this.expiryTimer?.clear();
    this.expiryTimer = new LongTimer(at, () => {
      this.expiryTimer = null;
      this.expire();
    });
  }

  scheduleDispatch(): void {
    if (this.dispatchScheduled || this.deleted) return;
    this.dispatchScheduled = true;
    process.nextTick(this.dispatchNow);
  }

  /**
   * Runs the dispatch this tick has scheduled, before anything that would see or change who gets
   * the ready messages: a get, a new consumer, a basic.cancel (Channel.cancel: not a consumer that
   * goes because its channel, connection or node did), a purge, a delete, a count. RabbitMQ's
   * queue hands each message to a consumer with room as it arrives, so a basic.get or basic.cancel
   * that follows publishes in the same socket read must find them delivered (RabbitMQ's Java
   * client's BindingLifecycle and ConsumerPriorities tests), not take them or leave them to the
   * next consumer. Dispatch stays batched per tick otherwise.
   */
  dispatchPending(): void {
    if (this.dispatchScheduled) this.dispatch();
  }

  /** Hands ready messages to consumers with capacity until either runs out. */
  dispatch(): void {
    this.dispatchScheduled = false;
    if (this.deleted) return;
    if (this.stream) return this.stream.dispatch();
    this.expire();
    let dropped = false;
    let c: Consumer | null = null;
    while (this.ready.length > 0 && this.consumers.length > 0) {
      c ??= this.nextConsumer();
      if (!c) break;
      const e = this.shift();
      if (!e) break; // a priority queue's next level is still being read

      // Each message is checked as it reaches the head: one that expired behind a deliverable
      // one is dropped, not delivered (RabbitMQ's Java client's PerMessageTTL test), and the
      // consumer chosen waits for the next.
      if (e.expiresAt !== 0 && e.expiresAt <= Date.now()) {
        this.discard(e, 'expired');
        dropped = true;
        continue;
      }
      c.deliver(e);
      c = null;
    }
    if (dropped) this.armExpiry();
    // A failed page read is retried while consumers wait for the paged messages.
    if (this.tail && this.tail.count > 0 && this.ready.peek() === undefined) this.pageIn();
    if (this.throttled.size > 0) this.releasePublishers();
  }

  /** Ready body bytes past which publishers pause (see BACKLOG_HIGH_BYTES); they resume at half. */
  private get backlogHighBytes(): number {
    return this.paging ? Math.min(BACKLOG_HIGH_BYTES, Math.max(1, this.paging.bytes / 2)) : BACKLOG_HIGH_BYTES;
  }

  /** Whether a publish here should pause its connection (see BACKLOG_HIGH and BACKLOG_HIGH_BYTES). */
  get overloaded(): boolean {
    if (this.stream) return false; // consumers read a stream at their own pace: publishers never wait for them
    return this.consumers.length > 0 && (this.readyCount > BACKLOG_HIGH || this.readyBytes > this.backlogHighBytes);
  }

  throttle(conn: Throttled): void {
    this.throttled.add(conn);
  }

  forget(conn: Throttled): void {
    this.throttled.delete(conn);
  }

  /** Resumes the paused publishers once the backlog is down, or nobody consumes it any more. */
  releasePublishers(): void {
    if (!this.deleted && this.consumers.length > 0 && (this.readyCount > BACKLOG_LOW || this.readyBytes > this.backlogHighBytes / 2)) return;
    const all = [...this.throttled];
    this.throttled.clear();
    for (const c of all) c.unthrottle(this);
  }

  /**
   * The consumer for the next message: with x-single-active-consumer only the first; otherwise
   * round-robin among the highest-priority consumers that have capacity.
   */
  private nextConsumer(): Consumer | null {
    const cs = this.consumers;
    if (this.args.singleActiveConsumer) return cs[0]!.hasCapacity ? cs[0]! : null;
    let start = 0;
    while (start < cs.length) {
      const p = cs[start]!.priority;
      let end = start;
      while (end < cs.length && cs[end]!.priority === p) end++;
      const n = end - start;
      for (let k = 0; k < n; k++) {
        const c = cs[start + ((this.rr + k) % n)]!;
        if (c.hasCapacity) {
          this.rr = (this.rr + k + 1) % n;
          return c;
        }
      }
      start = end;
    }
    return null;
  }
}
