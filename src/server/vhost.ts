// A virtual host: its queues and exchanges, and the store their durable state goes to.
import type { Store } from '../store/store.js';
import { DefaultExchange } from './exchanges/default.js';
import type { Exchange } from './exchanges/exchange.js';
import { Queue, type QueueSpec } from './queue.js';
import { writeTableBytes } from './table-bytes.js';

export class VHost {
  readonly queues = new Map<string, Queue>();
  readonly exchanges = new Map<string, Exchange>();
  readonly defaultExchange: DefaultExchange;

  constructor(
    readonly name: string,
    readonly store: Store,
  ) {
    this.defaultExchange = new DefaultExchange(this.queues);
    this.exchanges.set('', this.defaultExchange);
    this.exchanges.set('amq.default', this.defaultExchange);
  }

  /** Creates a queue; a durable, non-exclusive one is written to the store (flushed by the caller). */
  addQueue(spec: QueueSpec): Queue {
    const q = new Queue(this, spec);
    this.queues.set(q.name, q);
    if (q.durable && !q.exclusiveOwner) {
      this.store.putQueue({
        vhost: this.name,
        name: q.name,
        autoDelete: q.autoDelete,
        arguments: writeTableBytes(q.arguments),
      });
    }
    return q;
  }

  /** Deletes a queue: its consumers are cancelled, its messages and store records dropped. */
  deleteQueue(q: Queue): number {
    if (q.deleted) return 0;
    const count = q.ready.length;
    q.deleted = true;
    this.queues.delete(q.name);
    for (const c of [...q.consumers]) c.channel.cancelByServer(c);
    q.consumers.length = 0;
    q.ready.clear();
    if (q.durable && !q.exclusiveOwner) this.store.deleteQueue(this.name, q.name);
    return count;
  }
}
