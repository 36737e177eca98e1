// The embedded default store: LevelDB through `level`. Mutations queued during a tick are written as
// one batch (group commit) while the event loop goes on; flush() callers wait for their batch.
import { Level } from 'level';
import { ensureWritableDataDir } from './data-dir.js';
import type { DefinitionKind, Definitions, RangeTotals, ReadMessage, RecoveredState, Store, StoredMessage, StoredQueue } from './store.js';
import { DEFINITION_KINDS, queueKey } from './store.js';
import {
  bodyLengthOf,
  CLEAN_SHUTDOWN_KEY,
  DEAD_LETTER_PREFIX,
  DEFINITION_PREFIX,
  decodeDefinition,
  definitionKey,
  encodeDefinition,
  decodeMessage,
  decodeQueueDef,
  encodeMessage,
  encodeQueue,
  MESSAGE_PREFIX,
  messageKey,
  messagePrefix,
  PAGE_PREFIX,
  prefixEnd,
  queueDefKey,
  QUEUE_PREFIX,
  seqOf,
  TOTALS_PREFIX,
} from './codec.js';

type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };
/** A put that has not been handed to LevelDB yet, which a delete of the same message may cancel. */
type PendingPut = { type: 'put'; key: Buffer; value: Buffer; cancelled?: boolean };
/**
 * A queue deletion removes a key range, which a LevelDB batch cannot: it runs between batches.
 * sync: the batch holds something a client is told is safe once it is written (a persistent
 * message a confirm waits for, a definition a declare-ok waits for), so it is fsynced when the
 * store is (see LevelStoreOptions.fsync).
 */
type Step = { ops: Op[]; sync: boolean } | { clear: { gte: Buffer; lt: Buffer } };

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A failed batch is reported to whoever awaits it; an unobserved one must not crash the process.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** Every key under a one-letter prefix. */
const range = (prefix: string): { gte: Buffer; lt: Buffer } => ({
  gte: Buffer.from(prefix + '\0'),
  lt: Buffer.from(prefix + '\x01'),
});

/**
 * How many values to ask LevelDB for at once: up to 10,000 small ones (one call per value costs
 * more than the value), but never much more than BATCH_BYTES, or a queue of 1 MiB bodies would
 * be read gigabytes at a time. Starts small and learns the values' size.
 */
class BatchSizer {
  private avg = 0;
  next(maxCount: number, maxBytes: number): number {
    if (this.avg === 0) return Math.max(1, Math.min(16, maxCount));
    const byBytes = Math.floor(Math.min(maxBytes, BATCH_BYTES) / this.avg);
    return Math.max(1, Math.min(10_000, maxCount, byBytes));
  }
  saw(batch: Buffer[]): void {
    if (batch.length === 0) return;
    let n = 0;
    for (const v of batch) n += v.length;
    this.avg = n / batch.length;
  }
}
const BATCH_BYTES = 16 * 1024 * 1024;

export interface LevelStoreOptions {
  /**
   * fsync each batch that holds a persistent message or a definition before it counts as written
   * (true unless false is given): a confirmed message then survives power loss, not only a process
   * crash. Batches of acks, deletes and paged transient messages are never fsynced: nothing is
   * promised on them. Losing them to a power cut brings acked messages back (flagged redelivered
   * after the crash), never loses a confirmed one, and they usually become durable anyway with the
   * next synced batch (LevelDB appends every batch to one log file, and an fsync covers all of it)
   * or, once the log rolls over, when LevelDB writes that log's memtable to a synced table file.
   */
  fsync?: boolean;
}

export class LevelStore implements Store {
  private readonly db: Level<Buffer, Buffer>;
  private steps: Step[] = [];
  private next: Deferred | null = null;
  private inflight: Promise<void> | null = null;
  private scheduled = false;
  private readonly prefixes = new Map<string, Buffer>();
  onWrite?: ((seconds: number) => void) | undefined;
  /** Puts still waiting for the next batch, by queue and seq: a message acked before its batch is
   * written costs no write at all (RabbitMQ does the same for messages consumed quickly). */
  private pendingPuts = new Map<Buffer, Map<number, PendingPut>>();
  private lastVhost = '';
  private lastName = '';
  private lastKind = '';
  private lastPrefix: Buffer | null = null;
  /**
   * Page prefixes of the queues that paged a message out in this run. The page range is emptied
   * at every start, so another queue's is empty: its read skips an iterator (a stream's reader
   * reads a page every few milliseconds and never pages).
   */
  private readonly paged = new Set<Buffer>();
  /** Value bytes in steps not yet handed to LevelDB, and in the batch being written. */
  private queuedBytes = 0;
  private writingBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly options: LevelStoreOptions = {},
  ) {
    this.db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  }

  async open(): Promise<RecoveredState> {
    await ensureWritableDataDir(this.dir);
    await this.db.open();
    const cleanShutdown = (await this.db.get(CLEAN_SHUTDOWN_KEY)) !== undefined;
    // Paged messages were transient: a new run starts without them.
    await this.db.clear(range(PAGE_PREFIX));
    const queues: StoredQueue[] = [];
    for await (const [k, v] of this.db.iterator(range(QUEUE_PREFIX))) {
      queues.push(decodeQueueDef(k, v));
    }
    const definitions = Object.fromEntries(DEFINITION_KINDS.map((k) => [k, [] as unknown[]])) as RecoveredState['definitions'];
    for (const kind of DEFINITION_KINDS) {
      const list = definitions[kind] as unknown[];
      for await (const v of this.db.values(range(DEFINITION_PREFIX[kind]))) list.push(decodeDefinition(v));
    }
    // Totals are only true of the store as a clean shutdown left it: read once, then dropped.
    const totals = new Map<string, RangeTotals>();
    if (cleanShutdown) {
      for await (const [k, v] of this.db.iterator(range(TOTALS_PREFIX))) totals.set(k.toString('utf8', 2), JSON.parse(v.toString('utf8')) as RangeTotals);
    }
    await this.db.clear(range(TOTALS_PREFIX));
    await this.db.del(CLEAN_SHUTDOWN_KEY, { sync: true });
    return { queues, definitions, cleanShutdown, totals };
  }

  readonly pagesToDisk = true;

  async readMessages(vhost: string, queue: string, fromSeq: number, maxCount: number, maxBytes: number): Promise<ReadMessage[]> {
    await this.flush();
    // A queue's persistent and paged messages are two ranges: merged by seq as they are read.
    // Values alone, in batches (nextv): recovering a million messages is measured by this loop.
    const kinds = this.paged.has(this.prefix(vhost, queue, PAGE_PREFIX)) ? [MESSAGE_PREFIX, PAGE_PREFIX] : [MESSAGE_PREFIX];
    const sources = kinds.map((kind) => {
      const prefix = this.prefix(vhost, queue, kind);
      return {
        it: this.db.values({ gte: messageKey(prefix, fromSeq), lt: prefixEnd(prefix) }),
        paged: kind === PAGE_PREFIX,
        batch: [] as Buffer[],
        i: 0,
        done: false,
        sizer: new BatchSizer(),
      };
    });
    const out: ReadMessage[] = [];
    const last = { ex: Buffer.alloc(0), exStr: '', rk: Buffer.alloc(0), rkStr: '' };
    let bytes = 0;
    try {
      while (out.length < maxCount && (bytes < maxBytes || out.length === 0)) {
        let pick: (typeof sources)[number] | null = null;
        let pickSeq = 0;
        for (const s of sources) {
          if (s.i >= s.batch.length && !s.done) {
            s.batch = await s.it.nextv(s.sizer.next(maxCount - out.length, Math.max(1, maxBytes - bytes)));
            s.i = 0;
            s.done = s.batch.length === 0;
            s.sizer.saw(s.batch);
          }
          if (s.i < s.batch.length) {
            const seq = seqOf(s.batch[s.i]!);
            if (!pick || seq < pickSeq) [pick, pickSeq] = [s, seq];
          }
        }
        if (!pick) break;
        const m = decodeMessage(pick.batch[pick.i++]!, last) as ReadMessage;
        m.paged = pick.paged;
        bytes += m.body.length;
        out.push(m);
      }
    } finally {
      await Promise.all(sources.map((s) => s.it.close()));
    }
    return out;
  }

  async lastSeq(vhost: string, queue: string): Promise<number> {
    await this.flush();
    const prefix = this.prefix(vhost, queue, MESSAGE_PREFIX);
    const [last] = await this.db.values({ gte: prefix, lt: prefixEnd(prefix), reverse: true, limit: 1 }).all();
    return last ? seqOf(last) : 0;
  }

  putTotals(vhost: string, queue: string, totals: RangeTotals): void {
    this.op({ type: 'put', key: Buffer.from(`${TOTALS_PREFIX}\0${queueKey(vhost, queue)}`, 'utf8'), value: Buffer.from(JSON.stringify(totals)) }, false);
  }

  async countMessages(vhost: string, queue: string, fromSeq: number): Promise<RangeTotals> {
    await this.flush();
    const totals: RangeTotals = { count: 0, bytes: 0, lastSeq: 0 };
    for (const kind of [MESSAGE_PREFIX, PAGE_PREFIX]) {
      const prefix = this.prefix(vhost, queue, kind);
      const it = this.db.values({ gte: messageKey(prefix, fromSeq), lt: prefixEnd(prefix) });
      const sizer = new BatchSizer();
      try {
        for (;;) {
          const batch = await it.nextv(sizer.next(Infinity, Infinity));
          sizer.saw(batch);
          if (batch.length === 0) break;
          for (const v of batch) totals.bytes += bodyLengthOf(v);
          totals.count += batch.length;
          totals.lastSeq = Math.max(totals.lastSeq, seqOf(batch[batch.length - 1]!));
        }
      } finally {
        await it.close();
      }
    }
    return totals;
  }

  putQueue(q: StoredQueue): void {
    this.op({ type: 'put', key: queueDefKey(q.vhost, q.name), value: encodeQueue(q) }, true);
  }

  deleteQueue(vhost: string, name: string): void {
    this.op({ type: 'del', key: queueDefKey(vhost, name) }, true);
    for (const kind of [MESSAGE_PREFIX, PAGE_PREFIX, DEAD_LETTER_PREFIX]) {
      const prefix = this.prefix(vhost, name, kind);
      this.pendingPuts.delete(prefix);
      this.paged.delete(prefix);
      this.steps.push({ clear: { gte: prefix, lt: prefixEnd(prefix) } });
      this.prefixes.delete(kind + queueKey(vhost, name));
    }
    this.lastPrefix = null;
    this.schedule();
  }

  deleteMessagesFrom(vhost: string, name: string, fromSeq: number): void {
    for (const kind of [MESSAGE_PREFIX, PAGE_PREFIX]) {
      const prefix = this.prefix(vhost, name, kind);
      // Puts queued before this run before it (steps are ordered), so the range takes them too.
      this.steps.push({ clear: { gte: messageKey(prefix, fromSeq), lt: prefixEnd(prefix) } });
    }
    this.schedule();
  }

  deleteMessagesBelow(vhost: string, name: string, belowSeq: number): void {
    const prefix = this.prefix(vhost, name, MESSAGE_PREFIX);
    this.steps.push({ clear: { gte: messageKey(prefix, 0), lt: messageKey(prefix, belowSeq) } });
    this.schedule();
  }

  putDefinition<K extends DefinitionKind>(kind: K, id: string, value: Definitions[K]): void {
    this.op({ type: 'put', key: definitionKey(DEFINITION_PREFIX[kind], id), value: encodeDefinition(value) }, true);
  }

  deleteDefinition(kind: DefinitionKind, id: string): void {
    this.op({ type: 'del', key: definitionKey(DEFINITION_PREFIX[kind], id) }, true);
  }

  putMessage(vhost: string, queue: string, m: StoredMessage): void {
    this.put(this.prefix(vhost, queue, MESSAGE_PREFIX), m, true);
  }

  deleteMessage(vhost: string, queue: string, seq: number): void {
    this.del(this.prefix(vhost, queue, MESSAGE_PREFIX), seq);
  }

  putDeadLetter(vhost: string, queue: string, m: StoredMessage): void {
    this.put(this.prefix(vhost, queue, DEAD_LETTER_PREFIX), m, false);
  }

  deleteDeadLetter(vhost: string, queue: string, seq: number): void {
    this.del(this.prefix(vhost, queue, DEAD_LETTER_PREFIX), seq);
  }

  async readDeadLetters(vhost: string, queue: string): Promise<StoredMessage[]> {
    await this.flush();
    const prefix = this.prefix(vhost, queue, DEAD_LETTER_PREFIX);
    const values = await this.db.values({ gte: prefix, lt: prefixEnd(prefix) }).all();
    return values.map((v) => decodeMessage(v));
  }

  putPaged(vhost: string, queue: string, m: StoredMessage): void {
    const prefix = this.prefix(vhost, queue, PAGE_PREFIX);
    this.paged.add(prefix);
    this.put(prefix, m, false);
  }

  deletePaged(vhost: string, queue: string, seq: number): void {
    this.del(this.prefix(vhost, queue, PAGE_PREFIX), seq);
  }

  get backlogBytes(): number {
    return this.queuedBytes + this.writingBytes;
  }

  private put(prefix: Buffer, m: StoredMessage, durable: boolean): void {
    const op: PendingPut = { type: 'put', key: messageKey(prefix, m.seq), value: encodeMessage(m) };
    this.queuedBytes += op.value.length;
    let puts = this.pendingPuts.get(prefix);
    if (!puts) this.pendingPuts.set(prefix, (puts = new Map()));
    const earlier = puts.get(m.seq);
    if (earlier) earlier.cancelled = true; // a rewrite (the redelivered flag) supersedes it
    puts.set(m.seq, op);
    this.op(op, durable);
  }

  private del(prefix: Buffer, seq: number): void {
    const puts = this.pendingPuts.get(prefix);
    const put = puts?.get(seq);
    if (put) {
      put.cancelled = true;
      puts!.delete(seq);
      return;
    }
    this.op({ type: 'del', key: messageKey(prefix, seq) }, false);
  }

  flush(): Promise<void> {
    if (this.steps.length === 0) return this.inflight ?? Promise.resolve();
    this.next ??= deferred();
    return this.next.promise;
  }

  async close(): Promise<void> {
    await this.flush().catch(() => {});
    while (this.inflight) await this.inflight.catch(() => {});
    await this.db.put(CLEAN_SHUTDOWN_KEY, Buffer.from('1'), { sync: true });
    await this.db.close();
  }

  private prefix(vhost: string, name: string, kind: string): Buffer {
    // Consecutive operations are nearly always on the same queue: skip building its map key.
    if (name === this.lastName && vhost === this.lastVhost && kind === this.lastKind && this.lastPrefix) return this.lastPrefix;
    const k = kind + queueKey(vhost, name);
    let p = this.prefixes.get(k);
    if (!p) {
      p = messagePrefix(vhost, name, kind);
      this.prefixes.set(k, p);
    }
    this.lastVhost = vhost;
    this.lastName = name;
    this.lastKind = kind;
    this.lastPrefix = p;
    return p;
  }

  /** Queues op in the current batch; durable: someone is told it is safe once written (see Step). */
  private op(op: Op, durable: boolean): void {
    const last = this.steps[this.steps.length - 1];
    if (last && 'ops' in last) {
      last.ops.push(op);
      if (durable) last.sync = true;
    } else this.steps.push({ ops: [op], sync: durable });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.inflight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.writeSteps();
    });
  }

  private writeSteps(): void {
    const steps = this.steps;
    const done = this.next ?? deferred();
    this.steps = [];
    this.pendingPuts = new Map();
    this.next = null;
    this.writingBytes = this.queuedBytes;
    this.queuedBytes = 0;
    const fsync = this.options.fsync !== false;
    this.inflight = (async () => {
      const t0 = process.hrtime.bigint();
      for (const s of steps) {
        if ('ops' in s) {
          // A chained batch: abstract-level's array form clones and re-validates every op,
          // which costs about twice as much per message.
          const batch = this.db.batch();
          for (const o of s.ops) {
            if (o.type === 'del') batch.del(o.key);
            else if (!(o as PendingPut).cancelled) batch.put(o.key, o.value);
          }
          if (batch.length > 0) await batch.write({ sync: fsync && s.sync });
          else await batch.close();
        }
        else await this.db.clear(s.clear);
      }
      this.onWrite?.(Number(process.hrtime.bigint() - t0) / 1e9);
    })().then(done.resolve, done.reject);
    this.inflight = done.promise.finally(() => {
      this.inflight = null;
      this.writingBytes = 0;
      if (this.steps.length > 0) this.schedule();
    });
    this.inflight.catch(() => {});
  }
}
