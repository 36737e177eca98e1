// Paging for a queue declared with x-max-priority. Its delivery order is by level, then arrival, so
// one tail in seq order cannot hold its overflow: each level has a PagedTail of its own, over a
// range of the store of its own (levelStoreName), as RabbitMQ 3.10's priority queue keeps one
// backing queue per level, each paging apart. The invariant of paged-tail.ts holds per level: every
// paged message of a level is newer than every in-memory one of that level.
//
// The ready list (PriorityList) sees each level's paged count: a level whose in-memory part ran out
// while it still has paged messages holds back the levels below it until its page is read, so the
// order stays strict. That level is read first, even past the limits (by at most a quarter of
// them), before its in-memory part runs out; the others are read in level order while memory is
// under half its limits.
import type { ReadMessage, Store, StoredMessage } from '../store/store.js';
import type { Message } from './message.js';
import { PagedTail, type Backlog, type PagingLimits } from './paged-tail.js';
import type { PriorityList } from './ready-list.js';

/**
 * The store name of one level's messages. It starts with a control character, so no level's key
 * range lies inside the range of a queue's own name (a range delete of that queue's messages
 * would take it), and a queue named so by a client is not to be expected.
 */
export function levelStoreName(queue: string, level: number): string {
  return `\u0001p${level}\u0001${queue}`;
}

export class PriorityTails implements Backlog {
  /** One per level, lowest first. */
  readonly levels: PagedTail[];
  /** The level read last: one read at a time, so the queue is busy while that one is. */
  private reading: PagedTail | null = null;

  constructor(
    store: Store,
    vhost: string,
    names: readonly string[],
    private readonly list: PriorityList,
  ) {
    this.levels = names.map((n) => new PagedTail(store, vhost, n));
    list.paged = this.levels;
  }

  get count(): number {
    let n = 0;
    for (const t of this.levels) n += t.count;
    return n;
  }
  get bytes(): number {
    let n = 0;
    for (const t of this.levels) n += t.bytes;
    return n;
  }
  get used(): boolean {
    return this.levels.some((t) => t.used);
  }
  get busy(): boolean {
    // (Asked after every message paged out: not a walk over up to 256 levels each time.)
    return this.reading !== null && this.reading.busy;
  }
  get stored(): { count: number; bytes: number; lastSeq: number } {
    const s = { count: 0, bytes: 0, lastSeq: 0 };
    for (const t of this.levels) {
      s.count += t.stored.count;
      s.bytes += t.stored.bytes;
      s.lastSeq = Math.max(s.lastSeq, t.stored.lastSeq);
    }
    return s;
  }

  /**
   * A level with paged messages pages every newer one of its own; past the limits, a message pages
   * unless its level has nothing in memory (then nothing would read it back before the levels
   * below it went out). So memory may go past the limits by a message per level.
   */
  mustPage(msg: Message, _ready: unknown, lim: PagingLimits): boolean {
    const level = this.list.levelOf(msg.priority());
    if (this.levels[level]!.count > 0) return true;
    const list = this.list;
    return list.at(level).length > 0 && (list.length >= lim.messages || list.bytes + msg.bodySize > lim.bytes);
  }

  add(m: StoredMessage, stored: boolean, msg: Message): void {
    this.levels[this.list.levelOf(msg.priority())]!.add(m, stored);
  }

  /**
   * The level to read next, if any: the highest one with paged messages. When no level above it
   * has messages in memory, it is the one being delivered, and it is read once its in-memory part
   * is below an eighth of the limits, whatever the rest holds; otherwise only while the whole list
   * is under half the limits.
   */
  private next(lim: PagingLimits): PagedTail | undefined {
    const list = this.list;
    let above = false;
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const t = this.levels[i]!;
      const mem = list.at(i);
      if (t.count === 0) {
        if (mem.length > 0) above = true;
        continue;
      }
      if (t.busy) return undefined;
      if (!above && mem.length <= lim.messages / 8 && mem.bytes <= lim.bytes / 8) return t;
      return list.length <= lim.messages / 2 && list.bytes <= lim.bytes / 2 ? t : undefined;
    }
    return undefined;
  }

  wantsRead(_ready: unknown, lim: PagingLimits): boolean {
    return !this.busy && this.next(lim) !== undefined;
  }

  read(_ready: unknown, lim: PagingLimits): Promise<ReadMessage[] | null> {
    const t = this.busy ? undefined : this.next(lim);
    if (!t) return Promise.resolve(null);
    const list = this.list;
    // The level being delivered may be read past the limits, by a quarter of them at most.
    const count = Math.max(lim.messages - list.length, Math.ceil(lim.messages / 4));
    const bytes = Math.max(lim.bytes - list.bytes, Math.ceil(lim.bytes / 4));
    this.reading = t;
    return t.readPage(count, bytes, lim.log);
  }

  clear(): number {
    let n = 0;
    for (const t of this.levels) n += t.clear();
    return n;
  }

  drop(): void {
    for (const t of this.levels) t.drop();
  }
}
