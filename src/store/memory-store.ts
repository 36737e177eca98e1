// A store that lives in the process: the default without a data directory. Reopening the same
// instance recovers what it holds, which lets tests exercise recovery without a disk.
import { joinBody } from '../frames/body.js';
import type { DefinitionKind, Definitions, RangeTotals, ReadMessage, RecoveredState, Store, StoredMessage, StoredQueue } from './store.js';
import { DEFINITION_KINDS, queueKey } from './store.js';

type Messages = Map<string, Map<number, StoredMessage>>;

export class MemoryStore implements Store {
  private queues = new Map<string, StoredQueue>();
  private messages: Messages = new Map();
  private paged: Messages = new Map();
  private deadLetters: Messages = new Map();
  private definitions = new Map<DefinitionKind, Map<string, unknown>>(DEFINITION_KINDS.map((k) => [k, new Map()]));
  private clean = true;
  private totals = new Map<string, RangeTotals>();
  onWrite?: ((seconds: number) => void) | undefined;
  /** Paging to memory would only move messages from one place in memory to another. */
  readonly pagesToDisk = false;
  readonly keepsLevelsApart: boolean = false;
  readonly sharesTransient = false;

  async open(): Promise<RecoveredState> {
    this.paged.clear();
    const cleanShutdown = this.clean;
    this.clean = false;
    const totals = cleanShutdown ? this.totals : new Map<string, RangeTotals>();
    this.totals = new Map();
    return {
      queues: [...this.queues.values()],
      definitions: Object.fromEntries(
        DEFINITION_KINDS.map((k) => [k, [...this.definitions.get(k)!.values()]]),
      ) as RecoveredState['definitions'],
      cleanShutdown,
      totals,
    };
  }
  putQueue(q: StoredQueue): void {
    this.queues.set(queueKey(q.vhost, q.name), q);
  }
  deleteQueue(vhost: string, name: string): void {
    this.queues.delete(queueKey(vhost, name));
    this.messages.delete(queueKey(vhost, name));
    this.paged.delete(queueKey(vhost, name));
    this.deadLetters.delete(queueKey(vhost, name));
  }
  putDefinition<K extends DefinitionKind>(kind: K, id: string, value: Definitions[K]): void {
    this.definitions.get(kind)!.set(id, value);
  }
  deleteDefinition(kind: DefinitionKind, id: string): void {
    this.definitions.get(kind)!.delete(id);
  }
  putMessage(vhost: string, queue: string, m: StoredMessage): void {
    put(this.messages, queueKey(vhost, queue), m);
  }
  putRedelivered(vhost: string, queue: string, m: StoredMessage): void {
    put(this.messages, queueKey(vhost, queue), m);
  }
  markCheckedOut(): void {
    // Nothing outlives the process here: no restart to count it in.
  }
  deleteMessage(vhost: string, queue: string, seq: number): boolean {
    this.messages.get(queueKey(vhost, queue))?.delete(seq);
    return false;
  }
  readonly ackHoldFrom = Infinity;
  putDeadLetter(vhost: string, queue: string, m: StoredMessage): void {
    put(this.deadLetters, queueKey(vhost, queue), { ...m, settled: [...(m.settled ?? [])] });
  }
  deleteDeadLetter(vhost: string, queue: string, seq: number): void {
    this.deadLetters.get(queueKey(vhost, queue))?.delete(seq);
  }
  async readDeadLetters(vhost: string, queue: string): Promise<StoredMessage[]> {
    return [...(this.deadLetters.get(queueKey(vhost, queue))?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  }
  putPaged(vhost: string, queue: string, m: StoredMessage): void {
    put(this.paged, queueKey(vhost, queue), m);
  }
  deletePaged(vhost: string, queue: string, seq: number): void {
    this.paged.get(queueKey(vhost, queue))?.delete(seq);
  }
  deleteMessagesFrom(vhost: string, queue: string, fromSeq: number): void {
    for (const ms of [this.messages, this.paged]) {
      const q = ms.get(queueKey(vhost, queue));
      for (const seq of q?.keys() ?? []) if (seq >= fromSeq) q!.delete(seq);
    }
  }
  deleteMessagesBelow(vhost: string, queue: string, belowSeq: number): void {
    const q = this.messages.get(queueKey(vhost, queue));
    for (const seq of q?.keys() ?? []) if (seq < belowSeq) q!.delete(seq);
  }
  private range(vhost: string, queue: string, fromSeq: number): ReadMessage[] {
    const k = queueKey(vhost, queue);
    const out: ReadMessage[] = [];
    for (const [ms, paged] of [[this.messages, false], [this.paged, true]] as const) {
      for (const m of ms.get(k)?.values() ?? []) if (m.seq >= fromSeq) out.push({ ...m, body: joinBody(m.body), paged });
    }
    return out.sort((a, b) => a.seq - b.seq);
  }
  async readMessages(vhost: string, queue: string, fromSeq: number, maxCount: number, maxBytes: number): Promise<ReadMessage[]> {
    const out: ReadMessage[] = [];
    let bytes = 0;
    for (const m of this.range(vhost, queue, fromSeq)) {
      if (out.length >= maxCount || (out.length > 0 && bytes >= maxBytes)) break;
      out.push(m);
      bytes += m.body.length;
    }
    return out;
  }
  async lastSeq(vhost: string, queue: string): Promise<number> {
    let last = 0;
    for (const seq of this.messages.get(queueKey(vhost, queue))?.keys() ?? []) last = Math.max(last, seq);
    return last;
  }
  putTotals(vhost: string, queue: string, totals: RangeTotals): void {
    this.totals.set(queueKey(vhost, queue), totals);
  }
  async countMessages(vhost: string, queue: string, fromSeq: number): Promise<RangeTotals> {
    const all = this.range(vhost, queue, fromSeq);
    return { count: all.length, bytes: all.reduce((n, m) => n + m.body.length, 0), lastSeq: all.at(-1)?.seq ?? 0 };
  }
  progress(): Promise<boolean> {
    return Promise.resolve(false);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }
  readonly backlogBytes = 0;
  async close(): Promise<void> {
    this.clean = true;
  }
}

function put(ms: Messages, k: string, m: StoredMessage): void {
  let q = ms.get(k);
  if (!q) ms.set(k, (q = new Map()));
  q.set(m.seq, m);
}
