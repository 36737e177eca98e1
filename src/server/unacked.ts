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
}

export class UnackedMap extends Map<number, Unacked> {
  override set(tag: number, u: Unacked): this {
    if (!this.has(tag)) {
      u.queue.unackedCount++;
      u.queue.unackedBytes += u.entry.msg.body.length;
      if (u.entry.msg.persistent) {
        u.queue.unackedPersistent++;
        u.queue.unackedPersistentBytes += u.entry.msg.body.length;
      }
    }
    return super.set(tag, u);
  }

  override delete(tag: number): boolean {
    const u = this.get(tag);
    if (u) {
      u.queue.unackedCount--;
      u.queue.unackedBytes -= u.entry.msg.body.length;
      if (u.entry.msg.persistent) {
        u.queue.unackedPersistent--;
        u.queue.unackedPersistentBytes -= u.entry.msg.body.length;
      }
    }
    return super.delete(tag);
  }

  override clear(): void {
    for (const u of this.values()) {
      u.queue.unackedCount--;
      u.queue.unackedBytes -= u.entry.msg.body.length;
      if (u.entry.msg.persistent) {
        u.queue.unackedPersistent--;
        u.queue.unackedPersistentBytes -= u.entry.msg.body.length;
      }
    }
    super.clear();
  }
}
