// A store that lives in the process: the default without a data directory. Reopening the same
// instance recovers what it holds, which lets tests exercise recovery without a disk.
import type { DefinitionKind, Definitions, RecoveredState, Store, StoredMessage, StoredQueue } from './store.js';
import { DEFINITION_KINDS, queueKey } from './store.js';

export class MemoryStore implements Store {
  private queues = new Map<string, StoredQueue>();
  private messages = new Map<string, Map<number, StoredMessage>>();
  private definitions = new Map<DefinitionKind, Map<string, unknown>>(DEFINITION_KINDS.map((k) => [k, new Map()]));
  private clean = true;
  onWrite?: ((seconds: number) => void) | undefined;

  async open(): Promise<RecoveredState> {
    const messages = new Map<string, StoredMessage[]>();
    for (const [k, m] of this.messages) messages.set(k, [...m.values()].sort((a, b) => a.seq - b.seq));
    const cleanShutdown = this.clean;
    this.clean = false;
    return {
      queues: [...this.queues.values()],
      definitions: Object.fromEntries(
        DEFINITION_KINDS.map((k) => [k, [...this.definitions.get(k)!.values()]]),
      ) as RecoveredState['definitions'],
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
  putDefinition<K extends DefinitionKind>(kind: K, id: string, value: Definitions[K]): void {
    this.definitions.get(kind)!.set(id, value);
  }
  deleteDefinition(kind: DefinitionKind, id: string): void {
    this.definitions.get(kind)!.delete(id);
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
