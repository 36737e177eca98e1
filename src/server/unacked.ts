// A channel's deliveries awaiting ack, by delivery tag (insertion order is tag order), keeping each
// queue's count of unacknowledged messages right whatever adds or removes them.
import type { Consumer } from './consumer.js';
import type { Entry } from './message.js';
import type { Queue } from './queue.js';

export interface Unacked {
  tag: number;
  entry: Entry;
  queue: Queue;
  /** null for basic.get */
  consumer: Consumer | null;
  /** When it was delivered (coarseClock), for the consumer acknowledgement timeout. */
  at: number;
  /** The connection writer's flush that carries the delivery (FrameWriter.nextFlush); 0 for basic.get. */
  flush: number;
}

/**
 * Deliveries by tag, in tag order. Tags only grow (a channel numbers its deliveries), so they are
 * kept in arrays in that order: added at the end, nearly always taken from the front (acks come
 * in order, often as multiple). A Map keyed by tag cost 15% of the broker's time in goperf's
 * fan-out scenario (set and delete, and rehashing its table, garbage each time).
 */
export class UnackedMap {
  /** From head on, in tag order; null where one was taken out of order. */
  private items: (Unacked | null)[] = [];
  private tags: number[] = [];
  private head = 0;
  private live = 0;

  get size(): number {
    return this.live;
  }

  private static count(u: Unacked, sign: number): void {
    const q = u.queue;
    const bytes = u.entry.msg.bodySize;
    q.unackedCount += sign;
    q.unackedBytes += sign * bytes;
    if (u.entry.msg.persistent) {
      q.unackedPersistent += sign;
      q.unackedPersistentBytes += sign * bytes;
    }
  }

  /** Where tag is in the arrays, or -1. */
  private indexOf(tag: number): number {
    const tags = this.tags;
    let lo = this.head;
    let hi = tags.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const t = tags[mid]!;
      if (t === tag) return this.items[mid] ? mid : -1;
      if (t < tag) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Adds u under tag; tags come in increasing order (a lower one is put in its place, slowly). */
  set(tag: number, u: Unacked): this {
    const tags = this.tags;
    const n = tags.length;
    if (n === this.head || tags[n - 1]! < tag) {
      tags.push(tag);
      this.items.push(u);
    } else {
      const i = this.indexOf(tag);
      if (i >= 0) {
        this.items[i] = u; // replaced: still counted once
        return this;
      }
      let at = n;
      while (at > this.head && tags[at - 1]! > tag) at--;
      if (at > this.head && tags[at - 1] === tag) this.items[at - 1] = u;
      else {
        tags.splice(at, 0, tag);
        this.items.splice(at, 0, u);
      }
    }
    this.live++;
    UnackedMap.count(u, 1);
    return this;
  }

  get(tag: number): Unacked | undefined {
    const i = this.indexOf(tag);
    return i < 0 ? undefined : this.items[i]!;
  }

  has(tag: number): boolean {
    return this.indexOf(tag) >= 0;
  }

  delete(tag: number): boolean {
    const i = this.indexOf(tag);
    if (i < 0) return false;
    this.removeAt(i);
    return true;
  }

  /** Takes out every delivery with a tag up to tag, in order, appending them to out. */
  takeThrough(tag: number, out: Unacked[]): void {
    const items = this.items;
    const tags = this.tags;
    while (this.head < tags.length && tags[this.head]! <= tag) {
      const u = items[this.head];
      if (u) {
        out.push(u);
        this.removeAt(this.head);
      } else this.head++;
    }
    this.compact();
  }

  private removeAt(i: number): void {
    const u = this.items[i]!;
    this.items[i] = null;
    this.live--;
    UnackedMap.count(u, -1);
    if (i === this.head) {
      const items = this.items;
      let h = this.head + 1;
      while (h < items.length && items[h] === null) h++;
      this.head = h;
      this.compact();
    }
  }

  /** Drops the taken front of the arrays once it is most of them. */
  private compact(): void {
    const h = this.head;
    if (h === this.tags.length) {
      if (h > 0) {
        this.items.length = 0;
        this.tags.length = 0;
        this.head = 0;
      }
    } else if (h >= 1024 && h * 2 >= this.tags.length) {
      this.items.splice(0, h);
      this.tags.splice(0, h);
      this.head = 0;
    }
  }

  clear(): void {
    for (const u of this.values()) UnackedMap.count(u, -1);
    this.items = [];
    this.tags = [];
    this.head = 0;
    this.live = 0;
  }

  /** The deliveries in tag order. */
  *values(): IterableIterator<Unacked> {
    const items = this.items;
    for (let i = this.head; i < items.length; i++) {
      const u = items[i];
      if (u) yield u;
    }
  }
}
