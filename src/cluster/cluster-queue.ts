// A queue as one node of a cluster sees it. On its owner it is the plain Queue; a durable one keeps
// its messages in a JetStream stream (queue-stream.ts) instead of the local store, so another
// node can take it over. Everywhere else it stands in for the owner's: publishes routed to it,
// consumers, gets and settlements go to the owner over NATS core (wire.ts); deliveries come back
// to the local channels, and counts come from the owner's stats. Every node has one object per
// queue, so bindings and routing are the same code on all of them. Ownership moves (takeover,
// release) when the stream's leader moves (cluster-node.ts decides).
import type { Consumer } from '../server/consumer.js';
import { fromFieldValue } from '../frames/index.js';
import { Message, type Entry } from '../server/message.js';
import { Queue, type QueueOwner, type QueuePlacement, type QueueSpec } from '../server/queue.js';
import type { RangeTotals } from '../store/store.js';
import type { VHost } from '../server/vhost.js';
import type { ClusterNode } from './cluster-node.js';
import type { QueueStream } from './queue-stream.js';

/** The exclusive owner of a queue declared exclusive on another node: never this node's connection. */
export const ELSEWHERE: QueueOwner = { id: -1 };

/**
 * A message published through a node's pub (pubKey: the sender's node and incarnation, and the
 * pub's id there), this node's own included when it takes in its unanswered pubs on becoming the
 * owner; mid: handed back by an earlier owner, the id of its write there.
 */
export interface Forwarded {
  pub: string;
  mid?: string;
}

/** A pub's name in the stream's writes (the Warren-Pub header): unique per sender incarnation and queue. */
export const pubKey = (node: string, fi: number | undefined, id: number): string => `${node}#${fi ?? ''}#${id}`;

interface Pending {
  id: number;
  msg: Message;
  /** A message this node owned and handed back: the id of its unacknowledged write (see QueueStream.wrote). */
  mid?: string;
}

export class ClusterQueue extends Queue {
  /** The owner's counts, from its last stats (remote only). */
  remote = { messages: 0, unacked: 0, consumers: 0 };
  /** Publishes sent to the owner and not yet answered, oldest first: resent to a new owner. */
  private readonly unanswered: Pending[] = [];
  private nextPubId = 1;
  /** Generation of this node's pubs to the owner: moves on when the owner refuses one or changes. */
  gen = 0;
  /** The generation the last pub went out in, and how many pubs went out in it (wire pub.s). */
  private sentGen = -1;
  private sentInGen = 0;
  /** When the owner last answered (or the oldest unanswered pub went out): stalls are resent. */
  private progressAt = 0;
  private answered = 0;
  private readonly answerWaiters: { upTo: number; resolve: () => void }[] = [];
  /** Publishes whose x-overflow verdict the owner has not given yet, by pub id (reject-publish only). */
  private readonly verdicts = new Map<number, (taken: boolean) => void>();
  private lastVerdict: Promise<boolean> | undefined = undefined;
  /** Local consumers of a remote queue, by the id the owner knows them by. */
  readonly cids = new Map<Consumer, string>();
  /**
   * The id this node's basic.gets of the queue are held under on the owner, and the gen it was
   * made in: one per queue (the owner's holder settles on the queue it was made for) and a new one
   * with each owner (a new owner numbers its deliveries from 1 again: an ack of the old owner's
   * would settle another message).
   */
  getCid = '';
  getCidGen = -1;
  /** Messages fetched by basic.get from the owner, for take(). */
  private readonly fetched: Entry[] = [];
  /** Durable, non-exclusive: its messages live in a JetStream stream. */
  readonly replicated: boolean;
  /** Its stream, on the node that owns it (null elsewhere, and for transient queues). */
  js: QueueStream | null = null;
  /** Set while a takeover reads the stream: publishes wait for it. */
  loading: Promise<void> | null = null;
  private readonly held: { msg: Message; from?: Forwarded }[] = [];
  /** Settled once the held messages are written (or dropped): confirms wait for it. */
  private holding: ReturnType<ClusterNode['holdWrites']> | null = null;
  /** Counts the times this node dropped what it held of the queue (release): answers owed from before are void. */
  epoch = 0;

  constructor(
    vhost: VHost,
    spec: QueueSpec,
    readonly node: ClusterNode,
    /** The node it lives on; '' while nobody is known to own it. */
    public home: string,
  ) {
    super(vhost, spec);
    this.replicated = spec.durable && spec.exclusiveOwner === null;
    // Queue's constructor started the x-expires countdown: that is the owner's to run.
    if (!this.owned) this.stopTimers();
  }

  /** The stream's members as last seen (names of nodes), set by the owner's resolution. */
  members: string[] = [];

  override get placement(): QueuePlacement {
    if (!this.replicated) return { node: this.home };
    const online = this.members.filter((m) => this.node.membership.get(m)?.running === true);
    return { node: this.home, members: this.members, online };
  }

  /**
   * A message that travels between nodes (a replicated queue's stream write, a publish to another
   * node's queue, a delivery to a consumer on another node) is one NATS message. Only a queue of
   * this node's that no other node can reach, an exclusive one of a connection here, takes more.
   */
  override get maxBody(): number {
    const local = !this.replicated && this.owned && this.exclusiveOwner !== null && this.exclusiveOwner !== ELSEWHERE;
    return local ? Infinity : this.node.maxBody;
  }

  get owned(): boolean {
    return this.home === this.node.name;
  }

  /** NATS stream replicas: x-quorum-initial-group-size (default 3) for quorum queues, 1 otherwise. */
  get replicas(): number {
    if (this.type.name !== 'quorum') return 1;
    const v = this.arguments.get('x-quorum-initial-group-size');
    const n = v === undefined ? 3 : Number(fromFieldValue(v));
    return Math.max(1, Math.min(Number.isFinite(n) ? n : 3, this.node.maxReplicas));
  }

  /** from: published through another node (the wire's pub), not by a channel of this one. */
  override enqueue(msg: Message, from?: Forwarded): boolean {
    if (this.owned) {
      if (this.loading) {
        this.held.push(from === undefined ? { msg } : { msg, from });
        this.holding ??= this.node.holdWrites();
        return true;
      }
      // In the stream as this node read it (handed back by an earlier owner whose write landed
      // after all, or a pub sent again that an earlier owner had written): taken already.
      if (from && this.js?.wrote(from)) return true;
      return this.enqueueNow(msg, from);
    }
    if (this.deleted) return true;
    const p = { id: this.nextPubId++, msg };
    if (this.unanswered.length === 0) this.progressAt = Date.now();
    this.unanswered.push(p);
    // Only the owner knows whether the queue is over its limit: the publisher's confirm waits for it.
    if (this.args.overflow !== 'drop-head' && (this.args.maxLength !== undefined || this.args.maxLengthBytes !== undefined)) {
      this.lastVerdict = new Promise((resolve) => this.verdicts.set(p.id, resolve));
    }
    if (this.home !== '') this.node.traffic.sendPub(this, p.id, msg);
    return true;
  }

  private enqueueNow(msg: Message, from?: Forwarded): boolean {
    // The stream write (made within enqueue) names the pub, for the next owner's read.
    const js = this.js;
    if (!from || !js) return super.enqueue(msg);
    js.forwarding = from.pub;
    try {
      return super.enqueue(msg);
    } finally {
      js.forwarding = null;
    }
  }

  /** The position of the next pub in the current generation (0 for the first of a generation). */
  nextInGen(): number {
    if (this.sentGen !== this.gen) {
      this.sentGen = this.gen;
      this.sentInGen = 0;
    }
    return this.sentInGen++;
  }

  /**
   * Pubs the owner has not answered for stallMs: sent again in a new generation. A pub or its
   * answer that NATS core dropped (the last of a burst, with nothing after it to reveal the gap)
   * would otherwise hold its publisher's confirm forever. Duplicates, never losses.
   */
  resendIfStalled(now: number, stallMs: number): boolean {
    if (this.owned || this.home === '' || this.deleted || this.unanswered.length === 0 || now - this.progressAt < stallMs) return false;
    this.progressAt = now;
    this.resendPubsInNewGen();
    return true;
  }

  /** What the owner has not answered goes again, as a new generation (its count starts at 0). */
  resendPubsInNewGen(): void {
    if (this.owned || this.home === '') return;
    this.gen++;
    this.resendPubs();
  }

  /** Remote: the publisher's confirm waits for the owner's answer (ClusterNode.published). */
  override persists(msg: Message): boolean {
    return this.owned ? super.persists(msg) : true;
  }

  override takeVerdict(): Promise<boolean> | undefined {
    const v = this.lastVerdict;
    this.lastVerdict = undefined;
    return v;
  }

  /** Every publish sent so far is answered by the owner; undefined when none is outstanding. */
  published(): Promise<void> | undefined {
    const upTo = this.nextPubId - 1;
    if (this.answered >= upTo) return undefined;
    return new Promise((resolve) => this.answerWaiters.push({ upTo, resolve }));
  }

  /** The owner has every publish up to id, except those in refused (its x-overflow turned them away). */
  answeredUpTo(id: number, refused?: readonly number[]): void {
    if (id <= this.answered) return;
    this.answered = id;
    this.progressAt = Date.now();
    while (this.unanswered.length > 0 && this.unanswered[0]!.id <= id) {
      const p = this.unanswered.shift()!;
      this.giveVerdict(p.id, refused === undefined || !refused.includes(p.id));
    }
    let i = 0;
    while (i < this.answerWaiters.length) {
      const w = this.answerWaiters[i]!;
      if (w.upTo <= id) {
        this.answerWaiters.splice(i, 1);
        w.resolve();
      } else i++;
    }
  }

  private giveVerdict(id: number, taken: boolean): void {
    if (this.verdicts.size === 0) return;
    const resolve = this.verdicts.get(id);
    if (!resolve) return;
    this.verdicts.delete(id);
    resolve(taken);
  }

  /**
   * The owner changed (or restarted): what it has not answered is sent again and consumers
   * subscribe again; on the new owner itself, they are taken in directly.
   */
  resend(): void {
    if (this.owned) {
      // Being read: the takeover takes them in when it is done (it calls this). Taken in now they
      // were held, and answered at once (nothing written yet to wait for): confirmed, and gone if
      // the takeover was superseded (confirmed publishes lost in a rebalance).
      if (this.loading) return;
      // Taken in here; answered (so confirmed) only once the stream has them. If that fails, or
      // the queue moves first, they stay unanswered, for whoever owns the queue next (taken in as
      // forwarded, so that a hand-back leaves them to this list rather than send them twice).
      const refused: number[] = [];
      for (const p of this.unanswered) {
        const pub = pubKey(this.node.name, this.node.startedAt, p.id);
        if (!this.enqueue(this.node.restamp(p.msg), p.mid === undefined ? { pub } : { pub, mid: p.mid })) refused.push(p.id);
      }
      const upTo = this.nextPubId - 1;
      const epoch = this.epoch;
      const written = this.js?.flush();
      if (!written) this.answeredUpTo(upTo, refused);
      else written.then(() => this.epoch === epoch && this.answeredUpTo(upTo, refused), () => undefined);
      return;
    }
    if (this.home === '') return;
    this.resendPubs();
    for (const c of this.consumers) this.node.traffic.subscribe(this, c);
  }

  private resendPubs(): void {
    // The stall clock starts when they go out: pubs held while no owner was known (a node just
    // restarted, a queue just declared elsewhere) were otherwise taken for stalled as soon as
    // they were sent, and sent a second time (duplicates).
    if (this.unanswered.length > 0) this.progressAt = Date.now();
    for (const p of this.unanswered) this.node.traffic.sendPub(this, p.id, p.msg, p.mid);
  }

  /** This node now owns the queue: its messages are read from the stream, then it serves. */
  async takeOver(stream: QueueStream): Promise<void> {
    this.js = stream;
    let done!: () => void;
    const loading: Promise<void> = new Promise((r) => (done = r));
    this.loading = loading;
    try {
      // Read, then fence: a write of the previous owner that lands after the read makes the fence
      // fail, and the stream is read again.
      // A long queue keeps in memory what it would before paging; the rest is read when needed.
      const keep = this.vhost.paging?.bytes ?? Infinity;
      let maxSeq = await stream.load(keep);
      for (let i = 0; !(await stream.fence()); i++) {
        if (i >= 20) throw new Error('the stream keeps changing under the new owner');
        maxSeq = await stream.load(keep);
      }
      // Which were out to consumers when the last owner stopped (its delivered mark): a delivery
      // may have gone out before its write landed, so new seqs start above the mark too.
      // And which of them clients on the nodes still running hold: out with them, not returned.
      const [delivered, held] = await Promise.all([this.node.marks.read(stream.name), this.node.traffic.askHeld(this)]);
      if (this.js !== stream) return; // released while reading: the next owner reads it
      stream.delivered = delivered;
      stream.heldElsewhere = held.out;
      this.node.advanceSeq(Math.max(maxSeq, delivered.mark));
      // The consumers that were subscribed to the old owner are this queue's own now.
      const local = [...this.consumers];
      this.consumers.length = 0;
      for (const c of local) {
        const cid = this.cids.get(c);
        if (cid) this.node.traffic.forgetCid(cid);
        this.cids.delete(c);
      }
      // As after a single node's crash: a classic queue's all come back flagged, a quorum queue's
      // out to consumers (by the mark) counted once more, the others as they were.
      await super.recover(false, 0);
      stream.heldElsewhere = null;
      if (held.out.size > 0 || held.settled.size > 0) this.node.traffic.adoptHeld(this, held);
      stream.dropLoaded();
      for (const c of local) super.addConsumer(c);
    } finally {
      // (A takeover superseded by a newer one on this node leaves that one's loading alone.)
      if (this.loading === loading) this.loading = null;
      done();
    }
    for (const h of this.held.splice(0)) if (!h.from || !stream.wrote(h.from)) this.enqueueNow(this.node.restamp(h.msg), h.from);
    // Confirms of the held messages wait for their writes, not just for being taken in.
    const holding = this.holding;
    this.holding = null;
    if (holding) {
      const written = this.js?.flush();
      if (written) written.then(() => holding.done(true), () => holding.done(false));
      else holding.done(true);
    }
    this.resend();
    this.startTimers();
    this.scheduleDispatch();
  }

  /** Another node owns the queue now: what this node held in memory is dropped (the stream has it). */
  release(): void {
    this.epoch++;
    // What this node took in and did not get into the stream goes to the owner as this node's
    // publishes (sent once it is known, as resend does): the writes still unacknowledged, oldest
    // first, then those held for a takeover that did not happen. Their confirms wait for its answer.
    for (const b of this.js?.handBack() ?? []) this.handOn(new Message(b.m.seq, b.m.exchange, b.m.routingKey, b.m.properties, b.m.body, true), b.settle, b.id);
    // Those published through other nodes are left to them: refused (this queue's epoch moved
    // on), they send them again. This node's own go on as its publishes, the flushes that waited
    // for them waiting for the new owner's answer instead.
    const holding = this.holding;
    this.holding = null;
    if (holding) {
      holding.detach();
      const taken = this.held.filter((h) => !h.from).map((h) => new Promise<boolean>((resolve) => this.handOn(h.msg, resolve)));
      void Promise.all(taken).then((v) => holding.done(v.every(Boolean)));
    }
    this.held.length = 0;
    this.js = null;
    this.stopTimers();
    // The dead letters it owes are in the stream: the new owner forwards them.
    this.forgetOwed();
    // After js is gone: the paged messages of this node's store go, the stream's stay.
    this.forgetReady();
    // What this node's clients hold stays with them, settled through the new owner; the other
    // nodes' deliveries left the count with their subscriptions (dropRemoteConsumers).
    this.node.traffic.holdReleased(this, this.node.unackedHere(this));
    // Local consumers subscribe to the new owner (resend, once it is known); remote ones re-subscribe themselves.
    for (const c of [...this.consumers]) if (!(c.channel as { conn?: object }).conn) this.consumers.splice(this.consumers.indexOf(c), 1);
  }

  /** A message this node owned and did not write, for the owner as a publish; settle gets its answer. */
  private handOn(msg: Message, settle: (taken: boolean) => void, mid?: string): void {
    const p: Pending = mid === undefined ? { id: this.nextPubId++, msg } : { id: this.nextPubId++, msg, mid };
    if (this.unanswered.length === 0) this.progressAt = Date.now();
    this.unanswered.push(p);
    this.verdicts.set(p.id, settle);
  }

  /** Its confirms wait for the replicated write (or the owner's answer), never for consumers. */
  override get settlesConfirms(): boolean {
    return false;
  }

  override settle(entry: Entry): void {
    if (this.node.traffic.settleRemote(entry, 'ack')) return;
    super.settle(entry);
  }

  override discard(entry: Entry, reason: Parameters<Queue['discard']>[1]): void {
    if (this.node.traffic.settleRemote(entry, 'drop')) return;
    super.discard(entry, reason);
  }

  override requeue(entries: Entry[], released = false): void {
    const local = entries.filter((e) => !this.node.traffic.settleRemote(e, 'requeue', released));
    if (local.length > 0 && this.owned) super.requeue(local, released);
  }

  /** A queue owned elsewhere: its counts are asked of the owner (declare-ok, delete's checks). */
  override freshCounts(): Promise<void> | undefined {
    if (this.owned || this.deleted) return undefined;
    // An owner not known yet (a queue just declared on another node) is found first.
    if (this.home === '') return this.replicated ? this.node.resolveHome(this).then(() => (this.home !== '' && !this.owned ? this.node.traffic.askCounts(this) : undefined)) : undefined;
    return this.node.traffic.askCounts(this);
  }

  /** A queue owned elsewhere: the owner sees every node's consumers, so it decides. */
  override consumeVerdict(exclusive: boolean): Promise<boolean> | undefined {
    if (this.owned || this.home === '') return undefined;
    return this.node.traffic.askConsume(this, exclusive);
  }

  override addConsumer(c: Consumer): void {
    if (this.owned) return super.addConsumer(c);
    this.consumers.push(c);
    if (this.home !== '') this.node.traffic.subscribe(this, c);
  }

  override removeConsumer(c: Consumer): boolean {
    if (this.owned) return super.removeConsumer(c);
    const i = this.consumers.indexOf(c);
    if (i >= 0) this.consumers.splice(i, 1);
    this.node.traffic.unsubscribe(this, c);
    // Auto-delete is the owner's decision: it sees every node's consumers.
    return false;
  }

  /** x-expires counts on the owner only. */
  override touch(): void {
    // (Called by Queue's constructor too, before this class has its fields.)
    if (this.node === undefined || this.owned) super.touch();
    // A declare (or use) through this node renews the owner's x-expires lease, as RabbitMQ's would.
    else if (this.args.expires !== undefined && this.home !== '' && !this.deleted) this.node.traffic.sendTouch(this);
  }

  override headReady(): Promise<void> | undefined {
    if (this.owned) return this.loading ? this.loading.then(() => super.headReady()) : super.headReady();
    // An owner this node does not know yet (a queue just made on another node): found first, or
    // the get would go nowhere and come back empty after the fetch's timeout.
    if (this.home === '' && this.replicated) return this.node.resolveHome(this).then(() => (this.home === '' ? undefined : this.headReady()));
    return this.node.traffic.fetch(this).then((e) => {
      if (e) this.fetched.push(e);
    });
  }

  override take(): Entry | undefined {
    if (this.owned) return super.take();
    return this.fetched.shift();
  }

  override get messageCount(): number {
    return this.owned ? super.messageCount : this.remote.messages;
  }

  override get readyCount(): number {
    return this.owned ? super.readyCount : this.remote.messages;
  }

  override get consumerCount(): number {
    return this.owned ? super.consumerCount : this.remote.consumers;
  }

  override get unackedTotal(): number {
    return this.owned ? super.unackedTotal : this.remote.unacked;
  }

  /** queue.purge through a node that does not own the queue: the owner's count of what went. */
  override purgeElsewhere(): Promise<number> | undefined {
    if (this.owned || this.deleted) return undefined;
    // An owner not known yet is found first: sent to nobody, the purge was lost.
    if (this.home === '') return this.replicated ? this.node.resolveHome(this).then(() => (this.owned ? super.purge() : this.home !== '' ? this.node.traffic.askPurge(this) : 0)) : undefined;
    return this.node.traffic.askPurge(this);
  }

  override purge(): number {
    if (this.owned) return super.purge();
    this.node.traffic.sendPurge(this);
    const n = this.remote.messages;
    this.remote.messages = 0;
    return n;
  }

  override async recover(cleanShutdown: boolean, redeliverBelow: number, totals?: RangeTotals): Promise<{ count: number; lastSeq: number }> {
    // A replicated queue is read from its stream by whichever node takes it over.
    if (!this.owned || this.replicated) return { count: 0, lastSeq: 0 };
    return super.recover(cleanShutdown, redeliverBelow, totals);
  }

  override destroy(): { count: number; stored: boolean } {
    const remoteCount = this.owned ? 0 : this.remote.messages;
    const r = super.destroy();
    for (const w of this.answerWaiters.splice(0)) w.resolve();
    this.unanswered.length = 0;
    // Published to a queue that is gone: confirmed, as RabbitMQ does.
    for (const resolve of this.verdicts.values()) resolve(true);
    this.verdicts.clear();
    this.node.forget(this);
    return this.owned ? r : { count: remoteCount, stored: r.stored };
  }
}
