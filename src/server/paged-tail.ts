// The part of a long queue that lives in the store instead of memory (RabbitMQ's lazy-queue
// behaviour). Once a queue holds more ready messages than it may keep in memory, every newer
// message goes to the store; only their count, size and where they start stay here. As the
// in-memory head runs low, the oldest come back a page at a time.
//
// Invariant: every ready message with seq ≥ from is in the store and nowhere else; every ready
// message older than that is in memory. Requeued messages are older (they were delivered from
// memory), and seqs only grow, so appending to the tail and reading from its start keep it true.
import type { Logger } from 'pino';
import { bodyLength } from '../frames/body.js';
import type { ReadMessage, Store, StoredMessage } from '../store/store.js';
import type { Message } from './message.js';
import type { ReadyList } from './ready-list.js';

/** How much of a queue stays in memory before newer messages are paged out to the store. */
export interface PagingLimits {
  messages: number;
  /** Sum of the bodies' sizes. */
  bytes: number;
  log: Logger;
}

/**
 * The most messages one read brings back. Decoding a read and making its messages runs in one
 * go on the event loop: a whole page of 65,536 small messages held every connection of the broker
 * for 60–110 ms (a drain of 500,000 through amqplib). Reads of 4,096 hold it for at most ~15 ms,
 * with the same drain time; the queue asks again until its head is back to half its limits.
 */
export const PAGE_READ_MESSAGES = 4096;

/**
 * What a queue keeps in the store past its paging limits: one PagedTail for a FIFO queue, one per
 * level for a priority queue (priority-tails.ts). The queue asks it where each message goes and
 * when to read, and pushes what a read brings back onto its ready list.
 */
export interface Backlog {
  readonly count: number;
  readonly bytes: number;
  /** Whether the queue ever paged: its store records go when it does. */
  readonly used: boolean;
  readonly busy: boolean;
  /** The part of count (and bytes) that is persistent, and the highest seq in it. */
  readonly stored: { count: number; bytes: number; lastSeq: number };
  /** Whether msg, arriving now, goes to the store rather than onto the ready list. */
  mustPage(msg: Message, ready: ReadyList, lim: PagingLimits): boolean;
  /** Pages a message out (see PagedTail.add); msg is the message m records. */
  add(m: StoredMessage, stored: boolean, msg: Message): void;
  /** Whether a read should start now, given what the ready list holds. */
  wantsRead(ready: ReadyList, lim: PagingLimits): boolean;
  /** Reads the next page back (see PagedTail.readPage); null when there was nothing to read. */
  read(ready: ReadyList, lim: PagingLimits): Promise<ReadMessage[] | null>;
  /** Drops every paged message (purge): returns how many there were. */
  clear(): number;
  /** The queue is gone: forget everything without writing. */
  drop(): void;
}

export class PagedTail implements Backlog {
  count = 0;
  bytes = 0;
  /** Seq of the oldest paged message (meaningful while count > 0). */
  from = 0;
  /** Whether this queue ever paged: its store records go when it does. */
  used = false;
  /** The part of count (and bytes) that is persistent, and the highest seq in it. */
  stored = { count: 0, bytes: 0, lastSeq: 0 };
  private reading = false;
  /** Bumped by clear(): a read in flight across a purge or delete is thrown away. */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly vhost: string,
    private readonly queue: string,
  ) {}

  get busy(): boolean {
    return this.reading;
  }

  /** Once anything is paged, all newer messages are; an empty head never pages (nothing would read it back). */
  mustPage(msg: Message, ready: ReadyList, lim: PagingLimits): boolean {
    return this.count > 0 || (ready.length > 0 && (ready.length >= lim.messages || ready.bytes + msg.bodySize > lim.bytes));
  }

  /** The oldest paged messages come back once the in-memory head is down to half its limits. */
  wantsRead(ready: ReadyList, lim: PagingLimits): boolean {
    return !this.reading && this.count > 0 && ready.length <= lim.messages / 2 && ready.bytes <= lim.bytes / 2;
  }

  read(ready: ReadyList, lim: PagingLimits): Promise<ReadMessage[] | null> {
    return this.readPage(lim.messages - ready.length, lim.bytes - ready.bytes, lim.log);
  }

  /**
   * Pages a message out. A persistent message of a durable queue is already in the store (stored
   * says so); a transient one is written to the paging space, which does not survive a restart.
   */
  add(m: StoredMessage, stored: boolean, _msg?: Message): void {
    if (this.count === 0) this.from = m.seq;
    const size = bodyLength(m.body);
    this.count++;
    this.bytes += size;
    this.used = true;
    if (!stored) this.store.putPaged(this.vhost, this.queue, m);
    else {
      this.stored.count++;
      this.stored.bytes += size;
      this.stored.lastSeq = m.seq;
    }
  }

  /** Takes over a range a previous run left in the store (recovery). */
  adopt(from: number, count: number, bytes: number, lastSeq: number): void {
    this.from = from;
    this.count = count;
    this.bytes = bytes;
    this.used = count > 0;
    this.stored = { count, bytes, lastSeq };
  }

  /**
   * Reads the oldest paged messages back and takes them off the tail; null when the read was
   * overtaken by a purge or delete, or failed (logged; the messages stay paged).
   */
  async readPage(maxCount: number, maxBytes: number, log: Logger): Promise<ReadMessage[] | null> {
    if (this.reading || this.count === 0) return null;
    this.reading = true;
    const generation = this.generation;
    let page: ReadMessage[];
    try {
      page = await this.store.readMessages(this.vhost, this.queue, this.from, Math.min(maxCount, this.count, PAGE_READ_MESSAGES), maxBytes);
    } catch (err) {
      log.error({ err, vhost: this.vhost, queue: this.queue }, 'reading paged messages failed');
      return null;
    } finally {
      if (generation === this.generation) this.reading = false;
    }
    if (generation !== this.generation) return null;
    if (page.length === 0) {
      // The count says there is more, the store says there is not: trust the store, or the queue
      // would wait forever for messages that will not come.
      log.error({ vhost: this.vhost, queue: this.queue, count: this.count }, 'paged messages missing from the store');
      this.count = this.bytes = 0;
      return null;
    }
    for (const m of page) {
      this.bytes -= m.body.length;
      if (m.paged) this.store.deletePaged(this.vhost, this.queue, m.seq);
      else {
        this.stored.count--;
        this.stored.bytes -= m.body.length;
      }
    }
    this.count -= page.length;
    this.from = page[page.length - 1]!.seq + 1;
    if (this.count === 0) this.bytes = 0;
    return page;
  }

  /** Drops every paged message (purge): returns how many there were. */
  clear(): number {
    const n = this.count;
    this.generation++;
    this.reading = false;
    if (n > 0) this.store.deleteMessagesFrom(this.vhost, this.queue, this.from);
    this.count = this.bytes = 0;
    this.stored = { count: 0, bytes: 0, lastSeq: 0 };
    return n;
  }

  /** The queue is gone: forget everything without writing (the store drops the queue whole). */
  drop(): void {
    this.generation++;
    this.reading = false;
    this.count = this.bytes = 0;
    this.stored = { count: 0, bytes: 0, lastSeq: 0 };
  }
}
