// A store that lives in the process: the default without a data directory. Reopening the same
// instance recovers what it holds, which lets tests exercise recovery without a disk.
import type { RecoveredState, Store, StoredBinding, StoredExchange, StoredMessage, StoredQueue } from './store.js';
import { bindingId, queueKey } from './store.js';

export class MemoryStore implements Store {
  private queues = new Map<string, StoredQueue>();
  private messages = new Map<string, Map<number, StoredMessage>>();
  private exchanges = new Map<string, StoredExchange>();
  private bindings = new Map<string, StoredBinding>();
  private clean = true;

  async open(): Promise<RecoveredState> {
    const messages = new Map<string, StoredMessage[]>();
    for (const [k, m] of this.messages) messages.set(k, [...m.values()].sort((a, b) => a.seq - b.seq));
    const cleanShutdown = this.clean;
    this.clean = false;
    return {
      queues: [...this.queues.values()],
      exchanges: [...this.exchanges.values()],
      bindings: [...this.bindings.values()],
      messages,
      cleanShutdown,
    };
  }
  putQueue(q: StoredQueue): void {
    this.queues.set(queueKey(q.vhost, q.name), q);
  }
  deleteQueue(vhost: string, name: string): void {
    this.queues.delete(queueKey(vhost, name));
    this.messages.delete(queueKey(vhost, name));
  }
  putExchange(e: StoredExchange): void {
    this.exchanges.set(queueKey(e.vhost, e.name), e);
  }
  deleteExchange(vhost: string, name: string): void {
    this.exchanges.delete(queueKey(vhost, name));
  }
  putBinding(b: StoredBinding): void {
    this.bindings.set(queueKey(b.vhost, bindingId(b)), b);
  }
  deleteBinding(b: StoredBinding): void {
    this.bindings.delete(queueKey(b.vhost, bindingId(b)));
  }
  putMessage(vhost: string, queue: string, m: StoredMessage): void {
    const k = queueKey(vhost, queue);
    let q = this.messages.get(k);
    if (!q) this.messages.set(k, (q = new Map()));
    q.set(m.seq, m);
  }
  deleteMessage(vhost: string, queue: string, seq: number): void {
    this.messages.get(queueKey(vhost, queue))?.delete(seq);
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  async close(): Promise<void> {
    this.clean = true;
  }
}
