// A queue: ready messages in order, its consumers served round-robin within their prefetch windows.
import type { FieldTable } from '../frames/index.js';
import type { Consumer } from './consumer.js';
import type { Binding } from './exchanges/exchange.js';
import { Deque } from './deque.js';
import type { Entry, Message } from './message.js';
import type { VHost } from './vhost.js';

/** What a queue needs to know of the connection that owns it exclusively. */
export interface QueueOwner {
  readonly id: number;
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
  readonly arguments: FieldTable;
  readonly ready = new Deque<Entry>();
  readonly consumers: Consumer[] = [];
  /** Bindings with this queue as destination, dropped with it. */
  readonly bindings = new Set<Binding>();
  deleted = false;
  private rr = 0;
  private dispatchScheduled = false;
  private readonly dispatchNow = (): void => this.dispatch();

  constructor(
    readonly vhost: VHost,
    spec: QueueSpec,
  ) {
    this.name = spec.name;
    this.durable = spec.durable;
    this.exclusiveOwner = spec.exclusiveOwner;
    this.autoDelete = spec.autoDelete;
    this.arguments = spec.arguments;
  }

  /** Whether this queue keeps msg in the store: persistent messages on durable queues only. */
  persists(msg: Message): boolean {
    return this.durable && msg.persistent;
  }

  enqueue(msg: Message): void {
    if (this.persists(msg)) {
      this.vhost.store.putMessage(this.vhost.name, this.name, {
        seq: msg.seq,
        redelivered: false,
        exchange: msg.exchange,
        routingKey: msg.routingKey,
        properties: msg.properties,
        body: msg.body,
      });
    }
    this.ready.push({ msg, redelivered: false });
    if (this.consumers.length > 0) this.scheduleDispatch();
  }

  /** Restores an entry recovered from the store, without writing it again. */
  restore(entry: Entry): void {
    this.ready.push(entry);
  }

  /** Forgets a message for good (acked, or delivered without ack). */
  settle(entry: Entry): void {
    if (!this.deleted && this.persists(entry.msg)) this.vhost.store.deleteMessage(this.vhost.name, this.name, entry.msg.seq);
  }

  /**
   * Puts unacked messages back, marked redelivered, in their original order ahead of newer ones.
   * Ready messages are always in seq order, so this is a merge of two sorted runs.
   */
  requeue(entries: Entry[]): void {
    if (this.deleted || entries.length === 0) return;
    entries.sort((a, b) => a.msg.seq - b.msg.seq);
    for (const e of entries) e.redelivered = true;
    const head = this.ready.peek();
    if (!head || entries[entries.length - 1]!.msg.seq < head.msg.seq) {
      for (let i = entries.length - 1; i >= 0; i--) this.ready.unshift(entries[i]!);
    } else {
      const rest = this.ready.clear();
      let i = 0;
      let j = 0;
      while (i < entries.length || j < rest.length) {
        if (j >= rest.length || (i < entries.length && entries[i]!.msg.seq < rest[j]!.msg.seq)) this.ready.push(entries[i++]!);
        else this.ready.push(rest[j++]!);
      }
    }
    this.scheduleDispatch();
  }

  /** Removes the ready messages (not the unacked ones) and returns how many there were. */
  purge(): number {
    const all = this.ready.clear();
    for (const e of all) this.settle(e);
    return all.length;
  }

  addConsumer(c: Consumer): void {
    this.consumers.push(c);
    this.scheduleDispatch();
  }

  /** Returns true when the queue went away because its last consumer did and it is auto-delete. */
  removeConsumer(c: Consumer): boolean {
    const i = this.consumers.indexOf(c);
    if (i < 0) return false;
    this.consumers.splice(i, 1);
    if (this.rr > i) this.rr--;
    if (this.consumers.length === 0 && this.autoDelete && !this.deleted) {
      this.vhost.deleteQueue(this);
      return true;
    }
    return false;
  }

  scheduleDispatch(): void {
    if (this.dispatchScheduled || this.deleted) return;
    this.dispatchScheduled = true;
    process.nextTick(this.dispatchNow);
  }

  /** Hands ready messages to consumers with capacity, round-robin, until either runs out. */
  dispatch(): void {
    this.dispatchScheduled = false;
    const consumers = this.consumers;
    while (this.ready.length > 0 && consumers.length > 0) {
      const n = consumers.length;
      let chosen: Consumer | null = null;
      for (let k = 0; k < n; k++) {
        const c = consumers[(this.rr + k) % n]!;
        if (c.hasCapacity) {
          chosen = c;
          this.rr = (this.rr + k + 1) % n;
          break;
        }
      }
      if (!chosen) return;
      chosen.deliver(this.ready.shift()!);
    }
  }
}
