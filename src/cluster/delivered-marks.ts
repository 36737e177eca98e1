// Which of a replicated quorum queue's messages were out to consumers, for the node that takes the
// queue over. On one node the store keeps a delivered mark per queue (the highest seq delivered
// to a consumer that must settle it; a quorum queue delivers in seq order) and a bit for messages
// returned in place since (QueueLog.delivered, Segment back bits). In a cluster the queue's
// messages are in its JetStream stream, and its owner keeps the same two things in a KV bucket,
// one key per queue: a new owner reads them, and a message at or below the mark that was not
// returned comes back redelivered and counted once more, as RabbitMQ's quorum queues return the
// messages of consumers on a node that died. The others come back as they were (before, every
// message of a queue taken over came back flagged).
//
// Written at most every WRITE_EVERY_MS per queue, not awaited, never before a delivery: messages
// delivered within that window (and the KV's round trip) before the owner dies come back as they
// were, and a return in that window is counted once more. Puts are bounded across the node's
// queues (MAX_IN_FLIGHT), so many busy queues write less often rather than flood JetStream.
import { Buffer } from 'node:buffer';
import type { KV } from 'nats';
import type { Logger } from 'pino';
import { openBucket, retrying, type NatsLink } from './nats-link.js';

export const MARKS_BUCKET = 'warren_marks';
const WRITE_EVERY_MS = 10;
const MAX_IN_FLIGHT = 64;

/** One queue's delivered mark and its messages returned in place at or below it. */
export class DeliveredMark {
  mark = 0;
  /** Seqs at or below mark returned in place (to the front) and not delivered since. */
  readonly back = new Set<number>();
  dirty = false;
  closed = false;

  constructor(
    readonly key: string,
    private readonly marks: DeliveredMarks,
  ) {}

  /** Delivered to a consumer that must settle it (Store.markCheckedOut). */
  delivered(seq: number): void {
    if (seq > this.mark) this.mark = seq;
    else if (!this.back.delete(seq)) return;
    this.changed();
  }

  /** Returned in place (Store.putRedelivered): not out any more. */
  returned(seq: number): void {
    if (seq > this.mark || this.back.has(seq)) return;
    this.back.add(seq);
    this.changed();
  }

  /** Settled: gone from the stream, so whether it was out no longer matters (nothing to write). */
  settled(seq: number): void {
    if (this.back.size > 0) this.back.delete(seq);
  }

  isOut(seq: number): boolean {
    return seq <= this.mark && !this.back.has(seq);
  }

  private changed(): void {
    if (this.dirty || this.closed) return;
    this.dirty = true;
    this.marks.schedule(this);
  }

  /** {"m": mark, "b": [first, last, first, last, …]}: the back seqs as runs (usually consecutive). */
  encode(): Uint8Array {
    const runs: number[] = [];
    const seqs = [...this.back].sort((a, b) => a - b);
    for (const s of seqs) {
      if (runs.length > 0 && runs[runs.length - 1] === s - 1) runs[runs.length - 1] = s;
      else runs.push(s, s);
    }
    return Buffer.from(JSON.stringify({ m: this.mark, b: runs }));
  }

  decode(data: Uint8Array): void {
    const v = JSON.parse(Buffer.from(data).toString()) as { m?: number; b?: number[] };
    this.mark = v.m ?? 0;
    const b = v.b ?? [];
    for (let i = 0; i + 1 < b.length; i += 2) for (let s = b[i]!; s <= b[i + 1]!; s++) this.back.add(s);
  }
}

/** The node's marks: one KV bucket shared by the cluster, written a few at a time. */
export class DeliveredMarks {
  private kv: Promise<KV> | null = null;
  private readonly dirty = new Set<DeliveredMark>();
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly link: NatsLink,
    private readonly replicas: number,
    private readonly log: Logger,
  ) {}

  private bucket(): Promise<KV> {
    if (!this.kv) {
      const kv = openBucket(() => this.link.js.views.kv(MARKS_BUCKET, { history: 1, replicas: this.replicas }));
      // A failed open is tried again by the next caller.
      kv.catch(() => {
        if (this.kv === kv) this.kv = null;
      });
      this.kv = kv;
    }
    return this.kv;
  }

  /** The mark its last owner wrote for a queue's stream (0 and none back if it never wrote one). */
  async read(key: string): Promise<DeliveredMark> {
    const kv = await this.bucket();
    const mark = new DeliveredMark(key, this);
    const e = await retrying(() => kv.get(key));
    if (e && e.operation === 'PUT' && e.value.length > 0) {
      try {
        mark.decode(e.value);
      } catch (err) {
        this.log.warn({ err: String(err), key }, 'unreadable delivered mark: the queue is taken over without it');
      }
    }
    return mark;
  }

  /** The queue is deleted: its mark goes too. */
  remove(key: string): void {
    void this.bucket()
      .then((kv) => kv.purge(key))
      .catch((err: unknown) => this.log.warn({ err: String(err), key }, 'removing a delivered mark failed'));
  }

  schedule(m: DeliveredMark): void {
    this.dirty.add(m);
    this.timer ??= setTimeout(() => this.writeSome(), WRITE_EVERY_MS);
  }

  private writeSome(): void {
    this.timer = null;
    for (const m of this.dirty) {
      if (this.inFlight >= MAX_IN_FLIGHT) break;
      this.dirty.delete(m);
      m.dirty = false;
      if (m.closed) continue;
      const data = m.encode();
      this.inFlight++;
      this.bucket()
        .then((kv) => kv.put(m.key, data))
        .catch((err: unknown) => {
          this.log.warn({ err: String(err), key: m.key }, 'writing a delivered mark failed');
          // Written again (as it is then) unless a newer write is already due.
          if (!m.closed && !m.dirty) {
            m.dirty = true;
            this.dirty.add(m);
          }
        })
        .finally(() => {
          this.inFlight--;
          if (this.dirty.size > 0) this.timer ??= setTimeout(() => this.writeSome(), WRITE_EVERY_MS);
        });
    }
    if (this.dirty.size > 0 && this.inFlight < MAX_IN_FLIGHT) this.timer ??= setTimeout(() => this.writeSome(), WRITE_EVERY_MS);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.dirty.clear();
  }
}
