// Publisher confirms (RabbitMQ's confirm.select extension): each publish gets the next sequence
// number; acks go out in order, a run of them as one basic.ack with multiple=true.
import process from 'node:process';
import { M, type MethodInit } from '../frames/index.js';
import type { MessageStats } from './stats.js';

/**
 * The confirm of a persistent publish whose durable queues are all classic ones: it goes out at
 * whichever comes first, the store's write of the message or every one of those queues being done
 * with it (acked, or rejected, expired or dropped). RabbitMQ's rule ("a persistent message is
 * confirmed when it is persisted to disk or when it is consumed on every queue", its blog post
 * introducing confirms): a message acked before its write is never written (the store cancels the
 * put), and its publisher need not wait for a sync that would only record its deletion. Nothing
 * confirmed is lost: a confirmed message is on disk, or every queue it went to has finished with it.
 */
export class ConfirmWait {
  constructor(
    private readonly tracker: ConfirmTracker,
    private readonly seq: number,
    /** Queues still holding the message. */
    private copies: number,
    /** Its message, which points here until the confirm is settled (that is the wait's state). */
    private readonly msg: { confirmWait: ConfirmWait | null },
  ) {
    msg.confirmWait = this;
  }

  /** One of the queues is done with the message; the last one confirms it. */
  queueDone(): void {
    if (--this.copies === 0) this.settle(true);
  }

  /** The first outcome counts: the store's, or the queues' (queueDone). */
  settle(ok: boolean): void {
    if (this.msg.confirmWait !== this) return;
    this.msg.confirmWait = null;
    this.tracker.settle(this.seq, ok);
  }
}

export class ConfirmTracker {
  private seq = 0;
  /** Highest sequence number already acked or nacked to the client. */
  private sent = 0;
  /** The most publishes this channel had unconfirmed at once: 1 for a publisher that waits on each. */
  private peak = 0;
  /**
   * Outcomes that arrived ahead of an earlier, still pending publish (or a nack); 'sent': acked on
   * its own already (ackNow), passed over without a frame of its own.
   */
  private readonly settled = new Map<number, boolean | 'sent'>();
  /**
   * Every publish in (sent, okThrough] was stored and is to be acked: outcomes nearly always come
   * in order, and those cost a counter rather than a map entry each.
   */
  private okThrough = 0;
  private scheduled = false;
  private readonly flushNow = (): void => this.flush();

  /**
   * Publishes of this tick that wait for the store: one flush() for all of them. Nearly always a
   * run of consecutive seqs, kept as [awaitFrom, awaitTo] (an array of them was pushed per
   * publish); any that does not extend the run goes to awaiting.
   */
  private awaitFrom = 0;
  private awaitTo = -1;
  private awaiting: number[] = [];
  /** Those of them that their queues may confirm first (ConfirmWait). */
  private waits: ConfirmWait[] = [];
  /** The channel closed under it: nothing more may be sent for it. */
  private stopped = false;
  /** Run once every publish so far has been confirmed (see drain). */
  private drained: (() => void) | null = null;

  constructor(
    /** Sends a method on the channel. */
    private readonly send: (m: MethodInit) => void,
    /** Resolves once everything written to the store so far is durable; hurry and waitForAcks as Store.flush's. */
    private readonly storeFlush: (hurry: boolean, waitForAcks: boolean) => Promise<void>,
    /** Counts the publishes acked, for the management API's message_stats.confirm. */
    private readonly stats: MessageStats,
  ) {}

  next(): number {
    const n = ++this.seq;
    if (n - this.sent > this.peak) this.peak = n - this.sent;
    return n;
  }

  /** Publishes not yet acked or nacked to the client. */
  get pending(): number {
    return this.seq - this.sent;
  }

  /** Confirms seq once the store has written the message (nacks it if the write fails). */
  settleAfterStore(seq: number): void {
    if (this.awaitTo < this.awaitFrom) this.awaitFrom = this.awaitTo = seq;
    else if (seq === this.awaitTo + 1) this.awaitTo = seq;
    else this.awaiting.push(seq);
    this.groupForStore();
  }

  /**
   * Confirms seq once the store has written msg, or once the copies queues it is in are done with
   * it, whichever comes first (ConfirmWait, which msg points at meanwhile).
   */
  settleAfterStoreOrQueues(seq: number, copies: number, msg: { confirmWait: ConfirmWait | null }): void {
    this.waits.push(new ConfirmWait(this, seq, copies, msg));
    this.groupForStore();
  }

  private groupForStore(): void {
    if (this.awaitTo - this.awaitFrom + 1 + this.awaiting.length + this.waits.length > 1) return;
    // At the end of this tick every message published in it is in the store's pending batch.
    queueMicrotask(() => {
      const from = this.awaitFrom;
      const to = this.awaitTo;
      const group = this.awaiting;
      const waits = this.waits;
      this.awaitTo = this.awaitFrom - 1;
      if (group.length > 0) this.awaiting = [];
      this.waits = [];
      const stored = to - from + 1 + group.length;
      // When every publish of the group may be confirmed by its queues, the write need not hurry:
      // the acks that settle them first also cancel their puts. A publisher that has had more
      // publishes unconfirmed at once than this group keeps a window: its write may wait for
      // consumers' acks longer (Store.flush). One that waits on each confirm never does.
      const windowed = this.peak > stored + waits.length;
      const done = (ok: boolean): void => {
        this.settleRun(from, to, ok);
        for (const s of group) this.settle(s, ok);
        for (const w of waits) w.settle(ok);
      };
      this.storeFlush(stored > 0, windowed).then(
        () => done(true),
        () => done(false),
      );
    });
  }

  /** settle() of every seq in [from, to]: at once when they are the next to ack, as they nearly always are. */
  private settleRun(from: number, to: number, ok: boolean): void {
    if (to < from) return;
    if (ok && from === this.okThrough + 1 && this.settled.size === 0) {
      this.okThrough = to;
      this.flushSoon();
      return;
    }
    for (let s = from; s <= to; s++) this.settle(s, ok);
  }

  settle(seq: number, ok: boolean): void {
    if (ok && seq === this.okThrough + 1 && this.settled.size === 0) this.okThrough = seq;
    else this.settled.set(seq, ok);
    this.flushSoon();
  }

  /** Sends what is settled once the current tick's work is done (one flush for all of it). */
  private flushSoon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(this.flushNow);
  }

  /**
   * A publish routed nowhere: RabbitMQ acks it on its own as soon as it has handled it
   * (multiple=false, after its basic.return if mandatory), ahead of earlier publishes still
   * waiting for the store, rather than in the next run; php-amqp's tests count those acks.
   */
  ackNow(seq: number): void {
    if (this.stopped) return;
    this.stats.confirm++;
    this.send({ id: M.BasicAck, args: { deliveryTag: seq, multiple: false } });
    this.settled.set(seq, 'sent');
    this.flushSoon();
  }

  /**
   * Calls done once every publish so far has been acked or nacked to the client, so that a
   * channel closed by its client sends all its confirms before channel.close-ok, never after.
   */
  drain(done: () => void): void {
    this.flush();
    if (this.sent === this.seq) done();
    else this.drained = done;
  }

  /** The channel is gone: outcomes still to come are dropped, not sent. */
  stop(): void {
    this.stopped = true;
    this.drained = null;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.stopped) return;
    let runStart = this.sent;
    if (this.okThrough > this.sent) this.sent = this.okThrough;
    // The last publish of the run still to be acked; how many before it, and since it, were acked
    // on their own already.
    let last = this.sent;
    let early = 0;
    let earlySince = 0;
    while (this.settled.has(this.sent + 1)) {
      const seq = this.sent + 1;
      const outcome = this.settled.get(seq)!;
      this.settled.delete(seq);
      if (outcome === false) {
        this.ackRun(runStart, last, early);
        this.send({ id: M.BasicNack, args: { deliveryTag: seq, multiple: false, requeue: false } });
        runStart = last = seq;
        early = earlySince = 0;
      } else if (outcome === 'sent') earlySince++;
      else {
        early += earlySince;
        earlySince = 0;
        last = seq;
      }
      this.sent = seq;
    }
    this.okThrough = this.sent;
    this.ackRun(runStart, last, early);
    if (this.drained && this.sent === this.seq) {
      const done = this.drained;
      this.drained = null;
      done();
    }
  }

  /** Acks (from, to] in one frame; early of them were acked on their own already (ackNow). */
  private ackRun(from: number, to: number, early: number): void {
    if (to <= from) return;
    this.stats.confirm += to - from - early;
    this.send({ id: M.BasicAck, args: { deliveryTag: to, multiple: to - from > 1 } });
  }
}
