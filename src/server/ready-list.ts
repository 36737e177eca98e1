// The ready messages of a queue: in seq order (a plain FIFO), or per priority level for a queue
// declared with x-max-priority, highest level first.
import { Deque } from './deque.js';
import type { Entry } from './message.js';

export interface ReadyList {
  /** Messages in memory; peek and shift may still answer nothing (PriorityList.paged). */
  readonly length: number;
  /** Sum of the bodies' sizes, for x-max-length-bytes. */
  readonly bytes: number;
  /** The messages published persistent (delivery_mode 2), and their bodies' bytes. */
  readonly persistent: number;
  readonly persistentBytes: number;
  push(e: Entry): void;
  shift(): Entry | undefined;
  peek(): Entry | undefined;
  /** Puts entries (sorted by seq) back in seq order among those present. */
  putBack(entries: Entry[]): void;
  clear(): Entry[];
  toArray(): Entry[];
}

export class FifoList implements ReadyList {
  private readonly items = new Deque<Entry>();
  bytes = 0;
  persistent = 0;
  persistentBytes = 0;

  get length(): number {
    return this.items.length;
  }
  push(e: Entry): void {
    this.items.push(e);
    this.bytes += e.msg.bodySize;
    if (e.msg.persistent) {
      this.persistent++;
      this.persistentBytes += e.msg.bodySize;
    }
  }
  shift(): Entry | undefined {
    const e = this.items.shift();
    if (e) {
      this.bytes -= e.msg.bodySize;
      if (e.msg.persistent) {
        this.persistent--;
        this.persistentBytes -= e.msg.bodySize;
      }
    }
    return e;
  }
  peek(): Entry | undefined {
    return this.items.peek();
  }
  putBack(entries: Entry[]): void {
    for (const e of entries) {
      this.bytes += e.msg.bodySize;
      if (e.msg.persistent) {
        this.persistent++;
        this.persistentBytes += e.msg.bodySize;
      }
    }
    const head = this.items.peek();
    if (!head || entries[entries.length - 1]!.msg.seq < head.msg.seq) {
      // The common case: everything requeued is older than everything still ready.
      for (let i = entries.length - 1; i >= 0; i--) this.items.unshift(entries[i]!);
      return;
    }
    const rest = this.items.clear();
    let i = 0;
    let j = 0;
    while (i < entries.length || j < rest.length) {
      if (j >= rest.length || (i < entries.length && entries[i]!.msg.seq < rest[j]!.msg.seq)) this.items.push(entries[i++]!);
      else this.items.push(rest[j++]!);
    }
  }
  clear(): Entry[] {
    this.bytes = this.persistent = this.persistentBytes = 0;
    return this.items.clear();
  }
  toArray(): Entry[] {
    return this.items.toArray();
  }
}

export class PriorityList implements ReadyList {
  private readonly levels: FifoList[];
  /**
   * Each level's paged-out part (priority-tails.ts), when the queue pages: a level whose next
   * messages are still in the store holds back every level below it, so shift and peek answer
   * nothing until its page is read, rather than hand on a lower priority first.
   */
  paged: readonly { readonly count: number }[] | null = null;

  constructor(private readonly maxPriority: number) {
    this.levels = Array.from({ length: maxPriority + 1 }, () => new FifoList());
  }

  /** The level a message goes to: its priority, capped at x-max-priority. */
  levelOf(priority: number): number {
    return Math.min(priority, this.maxPriority);
  }

  /** The in-memory messages of one level. */
  at(level: number): FifoList {
    return this.levels[level]!;
  }

  /**
   * Totals over the levels, kept as entries come and go: a paging queue reads them on every
   * publish, and summing up to 256 levels each time would cost that much per message.
   */
  length = 0;
  bytes = 0;
  persistent = 0;
  persistentBytes = 0;

  private count(e: Entry, sign: 1 | -1): void {
    const size = e.msg.bodySize;
    this.length += sign;
    this.bytes += sign * size;
    if (e.msg.persistent) {
      this.persistent += sign;
      this.persistentBytes += sign * size;
    }
  }
  private level(e: Entry): FifoList {
    return this.levels[this.levelOf(e.msg.priority())]!;
  }
  push(e: Entry): void {
    this.level(e).push(e);
    this.count(e, 1);
  }
  private top(): FifoList | undefined {
    const paged = this.paged;
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const l = this.levels[i]!;
      if (l.length > 0) return l;
      if (paged !== null && paged[i]!.count > 0) return undefined;
    }
    return undefined;
  }
  shift(): Entry | undefined {
    const e = this.top()?.shift();
    if (e) this.count(e, -1);
    return e;
  }
  peek(): Entry | undefined {
    return this.top()?.peek();
  }
  putBack(entries: Entry[]): void {
    const byLevel = new Map<FifoList, Entry[]>();
    for (const e of entries) {
      const l = this.level(e);
      const list = byLevel.get(l);
      if (list) list.push(e);
      else byLevel.set(l, [e]);
      this.count(e, 1);
    }
    for (const [l, es] of byLevel) l.putBack(es);
  }
  clear(): Entry[] {
    this.length = this.bytes = this.persistent = this.persistentBytes = 0;
    return this.levels.flatMap((l) => l.clear()).sort((a, b) => a.msg.seq - b.msg.seq);
  }
  toArray(): Entry[] {
    return this.levels.flatMap((l) => l.toArray());
  }
}
