// A queue as one node of a cluster sees it. On its owner (the node it lives on) it is the plain
// Queue. Everywhere else it stands in for it: publishes routed to it, consumers, gets and
// settlements go to the owner over NATS core (wire.ts); deliveries come back to the local
// channels, and counts come from the owner's stats. Every node has one object per queue, so
// bindings and routing are the same code on all of them.
import type { Consumer } from '../server/consumer.js';
import { Message, type Entry } from '../server/message.js';
import { Queue, type QueueOwner, type QueueSpec } from '../server/queue.js';
import type { RangeTotals } from '../store/store.js';
import type { VHost } from '../server/vhost.js';
import type { ClusterNode } from './cluster-node.js';

/** The exclusive owner of a queue declared exclusive on another node: never this node's connection. */
export const ELSEWHERE: QueueOwner = { id: -1 };

interface Pending {
  id: number;
  msg: Message;
}

export class ClusterQueue extends Queue {
  /** The owner's counts, from its last stats (remote only). */
  remote = { messages: 0, unacked: 0, consumers: 0 };
  /** Publishes sent to the owner and not yet answered, oldest first: resent to a new owner. */
  private readonly unanswered: Pending[] = [];
  private nextPubId = 1;
  private answered = 0;
  private readonly answerWaiters: { upTo: number; resolve: () => void }[] = [];
  /** Local consumers of a remote queue, by the id the owner knows them by. */
  readonly cids = new Map<Consumer, string>();
  /** Messages fetched by basic.get from the owner, for take(). */
  private readonly fetched: Entry[] = [];

  constructor(
    vhost: VHost,
    spec: QueueSpec,
    readonly node: ClusterNode,
    /** The node it lives on. */
    public home: string,
  ) {
    super(vhost, spec);
    // Queue's constructor started the x-expires countdown: that is the owner's to run.
    if (!this.owned) this.stopTimers();
  }

  get owned(): boolean {
    return this.home === this.node.name;
  }

  override enqueue(msg: Message): boolean {
    if (this.owned) return super.enqueue(msg);
    if (this.deleted) return true;
    const p = { id: this.nextPubId++, msg };
    this.unanswered.push(p);
    this.node.sendPub(this, p.id, msg);
    return true;
  }

  /** Remote: the publisher's confirm waits for the owner's answer (ClusterNode.published). */
  override persists(msg: Message): boolean {
    return this.owned ? super.persists(msg) : true;
  }

  /** Every publish sent so far is answered by the owner; undefined when none is outstanding. */
  published(): Promise<void> | undefined {
    const upTo = this.nextPubId - 1;
    if (this.answered >= upTo || this.owned) return undefined;
    return new Promise((resolve) => this.answerWaiters.push({ upTo, resolve }));
  }

  /** The owner has every publish up to id. */
  answeredUpTo(id: number): void {
    if (id <= this.answered) return;
    this.answered = id;
    while (this.unanswered.length > 0 && this.unanswered[0]!.id <= id) this.unanswered.shift();
    let i = 0;
    while (i < this.answerWaiters.length) {
      const w = this.answerWaiters[i]!;
      if (w.upTo <= id) {
        this.answerWaiters.splice(i, 1);
        w.resolve();
      } else i++;
    }
  }

  /** A (new or restarted) owner: what it has not answered is sent again, consumers subscribe again. */
  resend(): void {
    if (this.owned) {
      // This node took the queue over: what it had sent itself is taken in directly.
      const mine = this.unanswered.splice(0);
      for (const p of mine) super.enqueue(p.msg);
      this.answeredUpTo(this.nextPubId - 1);
      return;
    }
    for (const p of this.unanswered) this.node.sendPub(this, p.id, p.msg);
    for (const c of this.cids.keys()) this.node.subscribe(this, c);
  }

  override settle(entry: Entry): void {
    if (this.node.settleRemote(entry, 'ack')) return;
    super.settle(entry);
  }

  override discard(entry: Entry, reason: Parameters<Queue['discard']>[1]): void {
    if (this.node.settleRemote(entry, 'drop')) return;
    super.discard(entry, reason);
  }

  override requeue(entries: Entry[]): void {
    const local = entries.filter((e) => !this.node.settleRemote(e, 'requeue'));
    if (local.length > 0) super.requeue(local);
  }

  override addConsumer(c: Consumer): void {
    if (this.owned) return super.addConsumer(c);
    this.consumers.push(c);
    this.node.subscribe(this, c);
  }

  override removeConsumer(c: Consumer): boolean {
    if (this.owned || !this.cids.has(c)) return super.removeConsumer(c);
    const i = this.consumers.indexOf(c);
    if (i >= 0) this.consumers.splice(i, 1);
    this.node.unsubscribe(this, c);
    // Auto-delete is the owner's decision: it sees every node's consumers.
    return false;
  }

  /** x-expires counts on the owner only. */
  override touch(): void {
    // (Called by Queue's constructor too, before this class has its fields.)
    if (this.node === undefined || this.owned) super.touch();
  }

  override headReady(): Promise<void> | undefined {
    if (this.owned) return super.headReady();
    return this.node.fetch(this).then((e) => {
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

  override purge(): number {
    if (this.owned) return super.purge();
    this.node.sendPurge(this);
    const n = this.remote.messages;
    this.remote.messages = 0;
    return n;
  }

  override async recover(cleanShutdown: boolean, redeliverBelow: number, totals?: RangeTotals): Promise<{ count: number; lastSeq: number }> {
    if (!this.owned) return { count: 0, lastSeq: 0 };
    return super.recover(cleanShutdown, redeliverBelow, totals);
  }

  override destroy(): { count: number; stored: boolean } {
    const remoteCount = this.owned ? 0 : this.remote.messages;
    const r = super.destroy();
    for (const w of this.answerWaiters.splice(0)) w.resolve();
    this.unanswered.length = 0;
    this.node.forget(this);
    return this.owned ? r : { count: remoteCount, stored: r.stored };
  }
}
