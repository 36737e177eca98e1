// At-least-once dead-lettering of quorum queues (RabbitMQ 3.10's rabbit_fifo_dlx and
// rabbit_fifo_dlx_worker, on one node). A message dead-lettered by a queue with
// x-dead-letter-strategy at-least-once, x-overflow reject-publish and a dead-letter exchange stays
// owned by the queue, in the store, until every queue its dead-letter exchange routes it to has
// taken it. While its exchange is missing, routes nowhere, or a target refuses it (reject-publish),
// it is kept and retried: every retry interval (RabbitMQ: dead_letter_worker_publisher_confirm_timeout,
// 3 minutes) and, unlike RabbitMQ, as soon as the vhost's topology changes, so a route that
// appears is used at once. The messages count towards the queue's length limit and show as
// messages_dlx, not as ready messages. Observed on RabbitMQ 3.10.8: test/e2e/quorum-queues.test.ts.
import { joinBody } from '../frames/body.js';
import { Message, deliveryModeOf, type Entry } from './message.js';
import { deadLetterTargets, recordDeath, type DeadMessage, type DeathReason } from './dead-letter.js';
import type { Queue } from './queue.js';
import type { StoredMessage } from '../store/store.js';

interface Owed {
  /** Its name in the queue's dead-letter range of the store. */
  seq: number;
  dead: DeadMessage;
  /** Target queues that took it: a retry does not hand it to them again. */
  settled: Set<string>;
  /** Waiting for targets' verdicts (a cluster's queues on other nodes): not retried meanwhile. */
  waiting?: boolean;
}

export class OwedDeadLetters {
  private readonly owed = new Map<number, Owed>();
  private bytesHeld = 0;
  private timer: NodeJS.Timeout | null = null;
  /** What was logged, as RabbitMQ logs each problem once per dead-letter exchange and key. */
  private logged = new Set<string>();
  private stopped = false;

  constructor(private readonly q: Queue) {}

  get count(): number {
    return this.owed.size;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /** Dead-letters entry at least once: kept (and stored) until its targets have taken it. */
  hold(entry: Entry, reason: DeathReason): void {
    const v = this.q.vhost;
    const o: Owed = { seq: v.nextSeq(), dead: recordDeath(this.q, entry.msg, reason), settled: new Set() };
    this.owed.set(o.seq, o);
    this.bytesHeld += o.dead.body.length;
    // Written in the same store batch as the removal of the message it was, so a crash keeps one.
    v.store.putDeadLetter(v.name, this.q.name, this.record(o));
    this.forward(o);
    this.armRetry();
  }

  /** Tries every owed message again (on the retry timer, after a topology change, after recovery). */
  retry(): void {
    if (this.stopped || this.owed.size === 0) return;
    for (const o of [...this.owed.values()]) if (!o.waiting) this.forward(o);
    this.armRetry();
  }

  /**
   * The queue's dead-letter handler is no longer at-least-once (a policy changed its strategy,
   * overflow or exchange): RabbitMQ 3.10.8 then deletes what it held, and logs it.
   */
  dropAll(): void {
    if (this.owed.size === 0) return;
    const v = this.q.vhost;
    v.log.info(
      { vhost: v.name, queue: this.q.name, count: this.owed.size, bytes: this.bytesHeld },
      `Deleted ${this.owed.size} dead-lettered messages (with total messages size of ${this.bytesHeld} bytes) in queue '${this.q.name}' in vhost '${v.name}'`,
    );
    for (const o of this.owed.values()) v.store.deleteDeadLetter(v.name, this.q.name, o.seq);
    this.owed.clear();
    this.bytesHeld = 0;
    this.logged.clear();
    this.disarm();
  }

  /**
   * Another node holds them now (a cluster's queue that moved reads them back from its stream):
   * forgotten here, the store left as it is; this node forwards them again only if it takes the
   * queue back (recover).
   */
  release(): void {
    this.owed.clear();
    this.bytesHeld = 0;
    this.logged.clear();
    this.stop();
  }

  /** The queue is deleted or the broker stops: no more retries (the store keeps or drops them). */
  stop(): void {
    this.stopped = true;
    this.disarm();
  }

  /** Reads back what the queue owed when the broker stopped; the highest seq, 0 for none. */
  async recover(): Promise<number> {
    // The queue runs here (again: a cluster's queue taken back after a release).
    this.stopped = false;
    const v = this.q.vhost;
    let last = 0;
    for (const m of await v.store.readDeadLetters(v.name, this.q.name)) {
      const body = joinBody(m.body);
      const props = new Message(m.seq, '', m.routingKey, m.properties, body, false).decoded();
      const dead: DeadMessage = {
        properties: m.properties,
        headers: props.headers ?? new Map(),
        body,
        persistent: deliveryModeOf(m.properties) === 2,
        routingKey: m.routingKey,
        bccKeys: m.bcc ?? null,
      };
      this.owed.set(m.seq, { seq: m.seq, dead, settled: new Set(m.settled ?? []) });
      this.bytesHeld += body.length;
      last = Math.max(last, m.seq);
    }
    return last;
  }

  /**
   * Routes o through the queue's dead-letter exchange and key as they are now (a policy may have
   * changed them, as RabbitMQ's worker looks its topology up again) to every target that has not
   * taken it yet; forgets it once none is left.
   */
  private forward(o: Owed): void {
    const q = this.q;
    const v = q.vhost;
    const dlxName = q.args.deadLetterExchange;
    if (dlxName === undefined) return;
    const dlx = v.exchanges.get(dlxName);
    if (!dlx) {
      this.warnOnce(
        `missing\0${dlxName}`,
        `Cannot forward any dead-letter messages from source quorum queue '${q.name}' in vhost '${v.name}' because its configured dead-letter-exchange exchange '${dlxName}' in vhost '${v.name}' does not exist. Either create the configured dead-letter-exchange or re-configure the dead-letter-exchange policy for the source quorum queue to prevent dead-lettered messages from piling up in the source quorum queue. This message will not be logged again.`,
      );
      return;
    }
    const routingKey = q.args.deadLetterRoutingKey ?? o.dead.routingKey;
    const { targets, cycles } = deadLetterTargets(v, dlx, routingKey, o.dead);
    if (cycles.length > 0) {
      this.warnOnce(
        `cycle\0${dlxName}\0${routingKey}`,
        `Dead-letter queues cycle detected for source quorum queue '${q.name}' in vhost '${v.name}' with dead-letter exchange exchange '${dlxName}' in vhost '${v.name}' and routing keys [<<"${routingKey}">>]: [${cycles.map((c) => `<<"${c.name}">>`).join(',')}] This message will not be logged again.`,
      );
    }
    if (targets.length === 0) {
      // Routes went away after some target took it: RabbitMQ settles it then (mandatory semantics).
      if (o.settled.size > 0) {
        v.counters.deadLettersConfirmed++;
        return this.forget(o);
      }
      this.warnOnce(
        `noroute\0${dlxName}\0${q.args.deadLetterRoutingKey ?? ''}`,
        `Cannot forward any dead-letter messages from source quorum queue '${q.name}' in vhost '${v.name}' with configured dead-letter-exchange exchange '${dlxName}' in vhost '${v.name}' and configured dead-letter-routing-key '${q.args.deadLetterRoutingKey ?? 'undefined'}'. This can happen either if the dead-letter routing topology is misconfigured (for example no queue bound to dead-letter-exchange or wrong dead-letter-routing-key configured) or if non-mirrored classic queues are bound whose host node is down. Fix this issue to prevent dead-lettered messages from piling up in the source quorum queue. This message will not be logged again.`,
      );
      return;
    }
    let msg: Message | null = null;
    let refused = false;
    let took = false;
    // A target whose x-overflow verdict comes later (a cluster's queue owned by another node) is
    // waited for: taken for granted, a refusal there lost the dead letter.
    let verdicts: Promise<void>[] | null = null;
    for (const t of targets) {
      if (o.settled.has(t.name)) continue;
      msg ??= new Message(v.nextSeq(), dlxName, routingKey, o.dead.properties, o.dead.body, o.dead.persistent);
      if (!t.enqueue(msg)) {
        refused = true;
        continue;
      }
      const verdict = t.takeVerdict();
      if (!verdict) {
        o.settled.add(t.name);
        took = true;
        continue;
      }
      (verdicts ??= []).push(
        verdict.then((ok) => {
          if (!ok) refused = true;
          else {
            o.settled.add(t.name);
            took = true;
          }
        }),
      );
    }
    if (!verdicts) return this.settle(o, took, refused);
    o.waiting = true;
    void Promise.all(verdicts).then(() => {
      o.waiting = false;
      if (this.owed.get(o.seq) === o && !this.stopped) this.settle(o, took, refused);
    });
  }

  /** After a forward: forgotten once every target took it; some took it, another refused: who has it is remembered. */
  private settle(o: Owed, took: boolean, refused: boolean): void {
    const v = this.q.vhost;
    if (!refused) {
      v.counters.deadLettersConfirmed++;
      return this.forget(o);
    }
    if (took) v.store.putDeadLetter(v.name, this.q.name, this.record(o));
  }

  private forget(o: Owed): void {
    const v = this.q.vhost;
    this.owed.delete(o.seq);
    this.bytesHeld -= o.dead.body.length;
    // In the batch that stores it in its targets: a crash keeps it in one place or the other.
    v.store.deleteDeadLetter(v.name, this.q.name, o.seq);
    if (this.owed.size === 0) this.disarm();
  }

  private record(o: Owed): StoredMessage {
    return {
      seq: o.seq,
      redelivered: false,
      exchange: '',
      routingKey: o.dead.routingKey,
      properties: o.dead.properties,
      body: o.dead.body,
      expiresAt: 0,
      settled: [...o.settled],
      ...(o.dead.bccKeys ? { bcc: o.dead.bccKeys } : {}),
    };
  }

  private warnOnce(key: string, msg: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    const v = this.q.vhost;
    v.log.warn({ vhost: v.name, queue: this.q.name }, msg);
  }

  /** While anything is owed: a retry every interval, and on topology changes (vhost.ts). */
  private armRetry(): void {
    const v = this.q.vhost;
    if (this.owed.size === 0 || this.stopped) return this.disarm();
    v.owingQueues.add(this.q);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.retry();
    }, v.deadLetterRetryMs);
    this.timer.unref();
  }

  private disarm(): void {
    this.q.vhost.owingQueues.delete(this.q);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
