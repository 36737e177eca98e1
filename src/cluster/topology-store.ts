// The store of a cluster node. The shared topology (vhosts, users, permissions, policies,
// exchanges, bindings, durable queues) lives in a JetStream KV bucket that every node watches, so a
// declare on one node is visible on all; what only this node holds (pages of its transient
// messages; messages until queues are stored in JetStream) goes to the node's local store.
// Writes are queued at once and awaited by flush(), as the store interface asks: a declare-ok
// goes out once the cluster has the definition.
import { headers, type KV, type KvEntry } from 'nats';
import type { Logger } from 'pino';
import { joinBody } from '../frames/body.js';
import {
  DEFINITION_KINDS,
  definitionId,
  type DefinitionKind,
  type Definitions,
  type RangeTotals,
  type ReadMessage,
  type RecoveredState,
  type Store,
  type StoredBinding,
  type StoredMessage,
  type StoredQueue,
} from '../store/store.js';
import type { ClusterNode, ClusterQueueRecord } from './cluster-node.js';
import type { ClusterQueue } from './cluster-queue.js';
import { openBucket, retrying, type NatsLink } from './nats-link.js';
import { writeTableBytes } from '../server/table-bytes.js';
import { decodeRecord, encodeRecord, parseRecordKey, recordKey } from './record-codec.js';

export const TOPOLOGY_BUCKET = 'warren_topology';

/** A change another node made to the shared topology. */
export type TopologyEvent =
  | { op: 'put'; kind: DefinitionKind; id: string; value: Definitions[DefinitionKind] }
  | { op: 'put'; kind: 'queue'; id: string; value: StoredQueue }
  | { op: 'delete'; kind: DefinitionKind | 'queue'; id: string };

const queueId = (vhost: string, name: string): string => definitionId.exchange(vhost, name);

export class ClusterStore implements Store {
  private kv: KV | null = null;
  /** Writes not yet acknowledged by the KV's stream. */
  private readonly pending = new Set<Promise<unknown>>();
  private failed: Error | null = null;
  /** Own writes per key still in flight: events for that key wait until they are acknowledged. */
  private readonly inflight = new Map<string, number>();
  private readonly deferred = new Map<string, KvEntry[]>();
  private readonly chains = new Map<string, Promise<void>>();
  /** Per key, the revision of this node's last write until its echo comes (see received). */
  private readonly ownLatest = new Map<string, number>();
  /** KV revisions this node wrote: their watch events are echoes, already applied here. */
  private readonly ownRevisions = new Set<number>();
  /** While applying another node's change, the writes it causes here are not written back. */
  private echoOff = 0;
  /** The highest KV revision the watch has handed on (applied, or echoed and already applied here). */
  private seenRev = 0;
  private seenWaits: { rev: number; done: () => void }[] = [];
  /** The highest revision of this node's own writes, and the highest every other node has seen. */
  private ownRev = 0;
  private sharedRev = 0;
  /** The question to the other nodes in flight (see flush), shared by every flush it covers. */
  private sharing: { rev: number; seen: Promise<void> } | null = null;
  /** Where changes made by other nodes go, once the broker has recovered. */
  onEvent: ((e: TopologyEvent) => void) | null = null;
  private readonly early: TopologyEvent[] = [];

  constructor(
    private readonly link: NatsLink,
    private readonly local: Store,
    private readonly log: Logger,
    private readonly replicas: number,
    private readonly node: ClusterNode,
  ) {}

  /**
   * Long queues page as on a single node: a replicated queue's paged messages stay in its stream
   * (read back from there), a transient message's go to this node's store, as every message of a
   * queue that is not replicated.
   */
  get pagesToDisk(): boolean {
    return this.local.pagesToDisk;
  }
  /** A queue's name is its stream's: a priority queue keeps its levels in memory. */
  readonly keepsLevelsApart = false;
  get backlogBytes(): number {
    return this.local.backlogBytes;
  }
  /** Every node routes to every queue, exchange and binding, transient ones too. */
  readonly sharesTransient = true;

  progress(): Promise<boolean> {
    return this.local.progress();
  }
  get onWrite(): ((seconds: number) => void) | undefined {
    return this.local.onWrite;
  }
  set onWrite(fn: ((seconds: number) => void) | undefined) {
    this.local.onWrite = fn;
  }

  /** Runs fn (applying another node's change) without writing what it changes back to the cluster. */
  quietly<T>(fn: () => T): T {
    this.echoOff++;
    try {
      return fn();
    } finally {
      this.echoOff--;
    }
  }

  /** Starts delivering other nodes' changes (after recovery, so none is applied twice). */
  startEvents(handler: (e: TopologyEvent) => void): void {
    this.onEvent = handler;
    for (const e of this.early.splice(0)) handler(e);
  }

  async open(): Promise<RecoveredState> {
    await this.local.open();
    const kv = await openBucket(() => this.link.js.views.kv(TOPOLOGY_BUCKET, { history: 1, replicas: this.replicas }));
    this.kv = kv;
    const initial = new Map<string, KvEntry>();
    let initialized = false;
    let resolveInit!: () => void;
    const ready = new Promise<void>((r) => (resolveInit = r));
    const watch = await retrying(() => kv.watch({
      initializedFn: () => {
        initialized = true;
        resolveInit();
      },
    }));
    void (async () => {
      for await (const e of watch) {
        if (!initialized) {
          if (e.operation === 'PUT') initial.set(e.key, e);
          else initial.delete(e.key);
        } else this.received(e);
        this.saw(e.revision);
      }
    })().catch((err: unknown) => this.log.error({ err }, 'topology watch ended'));
    await ready;
    const definitions = Object.fromEntries(DEFINITION_KINDS.map((k) => [k, [] as unknown[]])) as RecoveredState['definitions'];
    const queues: StoredQueue[] = [];
    /** Transient queues by queueId: other nodes' (true) and this node's of an earlier run (false). */
    const transient = new Map<string, boolean>();
    const bindings: KvEntry[] = [];
    for (const e of initial.values()) {
      const k = parseRecordKey(e.key);
      if (!k) continue;
      if (k.kind === 'queue') {
        const rec = decodeRecord<ClusterQueueRecord>(e.value);
        if (rec.transient && rec.home === this.node.name) {
          // This node's transient queues of an earlier run died with it.
          transient.set(k.id, false);
          this.write(e.key, null);
          continue;
        }
        this.node.noteHome(rec);
        // Transient queues of other nodes are made once the broker is up, as changes are.
        if (rec.transient) {
          transient.set(k.id, true);
          this.early.push({ op: 'put', kind: 'queue', id: k.id, value: rec });
        } else queues.push(rec);
      } else if (k.kind === 'binding') bindings.push(e);
      else if ((DEFINITION_KINDS as string[]).includes(k.kind)) (definitions[k.kind as DefinitionKind] as unknown[]).push(decodeRecord(e.value));
    }
    // A binding to a transient queue comes after it (recovery would drop it, and its record); one
    // to a transient queue of this node's earlier run went with it.
    for (const e of bindings) {
      const b = decodeRecord<StoredBinding>(e.value);
      const dest = b.destinationKind === 'queue' ? transient.get(queueId(b.vhost, b.destination)) : undefined;
      if (dest === false) this.write(e.key, null);
      else if (dest === true) this.early.push({ op: 'put', kind: 'binding', id: parseRecordKey(e.key)!.id, value: b });
      else definitions.binding.push(b);
    }
    // Messages live with their queues' owners, not here: nothing to flag after a restart.
    return { queues, definitions, cleanShutdown: true, totals: new Map<string, RangeTotals>() };
  }

  /** A watch event: an echo of this node's own write is dropped; others go to the broker. */
  private received(e: KvEntry): void {
    if ((this.inflight.get(e.key) ?? 0) > 0) {
      let q = this.deferred.get(e.key);
      if (!q) this.deferred.set(e.key, (q = []));
      q.push(e);
      return;
    }
    // An event older than this node's own last write of the key is stale: that write superseded it
    // everywhere (without this, two nodes writing one key at once each kept the other's value).
    const own = this.ownLatest.get(e.key);
    if (own !== undefined) {
      if (e.revision >= own) this.ownLatest.delete(e.key);
      else return;
    }
    if (this.ownRevisions.delete(e.revision)) return;
    const k = parseRecordKey(e.key);
    if (!k) return;
    const kind = k.kind as DefinitionKind | 'queue';
    if (kind !== 'queue' && !(DEFINITION_KINDS as string[]).includes(kind)) return;
    const ev: TopologyEvent =
      e.operation === 'PUT'
        ? ({ op: 'put', kind, id: k.id, value: decodeRecord(e.value) } as TopologyEvent)
        : { op: 'delete', kind, id: k.id };
    if (ev.op === 'put' && ev.kind === 'queue') this.node.noteHome(ev.value);
    if (this.onEvent) this.onEvent(ev);
    else this.early.push(ev);
  }

  /** Resolves once every other running node has seen revision rev: one question for concurrent flushes. */
  private async shared(rev: number): Promise<void> {
    if (this.sharing === null || this.sharing.rev < rev) {
      const seen = this.node.topologySeen(rev).then(() => {
        if (rev > this.sharedRev) this.sharedRev = rev;
        if (this.sharing?.seen === seen) this.sharing = null;
      });
      this.sharing = { rev, seen };
    }
    await this.sharing.seen;
  }

  /** The watch has handed on every change up to rev: other nodes' questions about it are answered. */
  private saw(rev: number): void {
    if (rev <= this.seenRev) return;
    this.seenRev = rev;
    if (this.seenWaits.length === 0) return;
    const due = this.seenWaits.filter((w) => w.rev <= rev);
    this.seenWaits = this.seenWaits.filter((w) => w.rev > rev);
    for (const w of due) w.done();
  }

  /** Resolves once this node has applied the shared topology up to revision rev (see wire 'seen?'). */
  whenSeen(rev: number): Promise<void> {
    if (rev <= this.seenRev) return Promise.resolve();
    return new Promise((done) => this.seenWaits.push({ rev, done }));
  }

  private write(key: string, value: unknown | null): void {
    if (this.echoOff > 0) return;
    const kv = this.kv;
    if (!kv) throw new Error('cluster store is not open');
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1);
    // Writes to one key go one after another, each retried while the bucket has no leader, so a
    // retry never overtakes a later write.
    const data = value === null ? null : encodeRecord(value);
    const op = (this.chains.get(key) ?? Promise.resolve()).then(() => retrying(() => (data === null ? this.purge(key) : kv.put(key, data))));
    this.chains.set(key, op.then(() => undefined, () => undefined));
    const p = op
      .then((revision) => {
        if (typeof revision === 'number' && revision > 0) {
          if (revision > this.ownRev) this.ownRev = revision;
          this.ownRevisions.add(revision);
          this.ownLatest.set(key, Math.max(revision, this.ownLatest.get(key) ?? 0));
        }
      })
      .catch((err: unknown) => {
        this.failed = err instanceof Error ? err : new Error(String(err));
        this.log.error({ err, key }, 'writing the shared topology failed');
      })
      .finally(() => {
        this.pending.delete(p);
        const n = (this.inflight.get(key) ?? 1) - 1;
        if (n > 0) {
          this.inflight.set(key, n);
          return;
        }
        this.inflight.delete(key);
        this.chains.delete(key);
        const waiting = this.deferred.get(key);
        this.deferred.delete(key);
        if (waiting) for (const e of waiting) this.received(e);
      });
    this.pending.add(p);
  }

  /**
   * Deletes are purges (a deleted name leaves no history behind), published as KV does it, so the
   * acknowledgement names the revision and the watch echo can be recognised.
   */
  private async purge(key: string): Promise<number> {
    const h = headers();
    h.set('KV-Operation', 'PURGE');
    h.set('Nats-Rollup', 'sub');
    const ack = await this.link.js.publish(`$KV.${TOPOLOGY_BUCKET}.${key}`, new Uint8Array(0), { headers: h });
    return ack.seq;
  }

  putQueue(q: StoredQueue): void {
    const rec: ClusterQueueRecord = { ...q, home: this.node.name };
    this.write(recordKey('queue', queueId(q.vhost, q.name)), rec);
    if (this.echoOff === 0) this.track(this.node.createStream(q.vhost, q.name));
  }

  /** Work a declare's answer waits for (a new queue's stream). */
  track(p: Promise<unknown>): void {
    const t: Promise<unknown> = p
      .catch((err: unknown) => {
        this.failed = err instanceof Error ? err : new Error(String(err));
        this.log.error({ err: String(err) }, 'cluster operation failed');
      })
      .finally(() => this.pending.delete(t));
    this.pending.add(t);
  }

  /** A non-durable or exclusive queue of this node: shared so other nodes can route to it. */
  announceTransient(q: ClusterQueue): void {
    const rec: ClusterQueueRecord = {
      vhost: q.vhost.name,
      name: q.name,
      autoDelete: q.autoDelete,
      arguments: writeTableBytes(q.arguments),
      home: this.node.name,
      transient: true,
      exclusive: q.exclusiveOwner !== null,
    };
    this.write(recordKey('queue', queueId(q.vhost.name, q.name)), rec);
  }

  withdrawTransient(q: ClusterQueue): void {
    this.write(recordKey('queue', queueId(q.vhost.name, q.name)), null);
  }

  /**
   * Removes the records of transient queues whose node went down, and of the bindings to them
   * (every node dropped the queues themselves; their records stayed until that node restarted).
   */
  async dropTransient(queues: [vhost: string, name: string][]): Promise<void> {
    const kv = this.kv;
    if (!kv) return;
    const ids = new Set(queues.map(([v, n]) => queueId(v, n)));
    try {
      for await (const key of await kv.keys()) {
        const k = parseRecordKey(key);
        if (!k) continue;
        if (k.kind === 'queue' && ids.has(k.id)) this.write(key, null);
        else if (k.kind === 'binding') {
          const [vhost, , kind, destination] = k.id.split('\0');
          if (kind === 'queue' && ids.has(queueId(vhost!, destination!))) this.write(key, null);
        }
      }
    } catch (err) {
      this.log.warn({ err: String(err) }, 'removing the records of a down node\'s transient queues failed');
    }
  }
  deleteQueue(vhost: string, name: string): void {
    // The node that deletes the queue deletes its stream; the others only forget it.
    if (this.echoOff === 0) this.track(this.node.destroyStream(vhost, name));
    this.write(recordKey('queue', queueId(vhost, name)), null);
    this.local.deleteQueue(vhost, name);
  }
  putDefinition<K extends DefinitionKind>(kind: K, id: string, value: Definitions[K]): void {
    this.write(recordKey(kind, id), value);
  }
  deleteDefinition(kind: DefinitionKind, id: string): void {
    this.write(recordKey(kind, id), null);
  }

  // A replicated queue's messages go to its stream (on its owner); others' to the local store.
  putMessage(vhost: string, queue: string, m: StoredMessage, toConsumer?: boolean): void {
    const s = this.node.streamFor(vhost, queue);
    if (s) s.put(m);
    else if (!this.node.isReplicated(vhost, queue)) this.local.putMessage(vhost, queue, m, toConsumer);
  }
  putRedelivered(vhost: string, queue: string, m: StoredMessage): void {
    // A replicated queue's stream takes the message again (the newer record wins on replay).
    const s = this.node.streamFor(vhost, queue);
    if (s) {
      s.put(m);
      s.delivered?.returned(m.seq);
    } else if (!this.node.isReplicated(vhost, queue)) this.local.putRedelivered(vhost, queue, m);
  }
  markCheckedOut(vhost: string, queue: string, seq: number): void {
    // A replicated queue's in the KV of delivered marks, for the node that takes it over next.
    const s = this.node.streamFor(vhost, queue);
    if (s) s.delivered?.delivered(seq);
    else if (!this.node.isReplicated(vhost, queue)) this.local.markCheckedOut(vhost, queue, seq);
  }
  deleteMessage(vhost: string, queue: string, seq: number): boolean {
    const s = this.node.streamFor(vhost, queue);
    if (s) {
      s.delete(seq);
      s.delivered?.settled(seq);
    } else if (!this.node.isReplicated(vhost, queue)) return this.local.deleteMessage(vhost, queue, seq);
    return false;
  }
  get ackHoldFrom(): number {
    return this.local.ackHoldFrom;
  }
  // At-least-once dead letters owed by a replicated quorum queue go to its stream, marked as owed,
  // so that they move with the queue: a new owner reads them back and forwards them (they stayed
  // in the owner's local store, and a takeover after the owner died lost them). Others' (a delayed
  // exchange's, a transient queue's) stay in the local store.
  putDeadLetter(vhost: string, queue: string, m: StoredMessage): void {
    const s = this.node.streamFor(vhost, queue);
    if (s) s.put(m, true);
    else this.local.putDeadLetter(vhost, queue, m);
  }
  deleteDeadLetter(vhost: string, queue: string, seq: number): void {
    const s = this.node.streamFor(vhost, queue);
    if (s) s.delete(seq);
    else this.local.deleteDeadLetter(vhost, queue, seq);
  }
  readDeadLetters(vhost: string, queue: string): Promise<StoredMessage[]> {
    const s = this.node.streamFor(vhost, queue);
    return s ? Promise.resolve(s.owedRead()) : this.local.readDeadLetters(vhost, queue);
  }
  putPaged(vhost: string, queue: string, m: StoredMessage): void {
    this.local.putPaged(vhost, queue, m);
  }
  deletePaged(vhost: string, queue: string, seq: number): void {
    this.local.deletePaged(vhost, queue, seq);
  }
  deleteMessagesFrom(vhost: string, queue: string, fromSeq: number): void {
    this.node.streamFor(vhost, queue)?.deleteFrom(fromSeq);
    this.local.deleteMessagesFrom(vhost, queue, fromSeq);
  }
  deleteMessagesBelow(vhost: string, queue: string, belowSeq: number): void {
    this.local.deleteMessagesBelow(vhost, queue, belowSeq);
  }
  /**
   * A replicated queue's range: its stream's messages (persistent), merged by seq with the
   * transient ones it paged to this node's store; each side gives the first of its own, so the
   * first of the two together are among them.
   */
  async readMessages(vhost: string, queue: string, fromSeq: number, maxCount: number, maxBytes: number): Promise<ReadMessage[]> {
    const s = this.node.streamFor(vhost, queue);
    if (!s) return this.local.readMessages(vhost, queue, fromSeq, maxCount, maxBytes);
    const [inStream, paged] = await Promise.all([s.read(fromSeq, maxCount, maxBytes), this.local.readMessages(vhost, queue, fromSeq, maxCount, maxBytes)]);
    const out: ReadMessage[] = [];
    let bytes = 0;
    let i = 0;
    let j = 0;
    while (out.length < maxCount && (i < inStream.length || j < paged.length)) {
      const a = inStream[i];
      let m: ReadMessage;
      if (a && (j >= paged.length || a.seq < paged[j]!.seq)) {
        m = { ...a, body: joinBody(a.body), paged: false };
        i++;
      } else m = paged[j++]!;
      if (out.length > 0 && bytes + m.body.length > maxBytes) break;
      out.push(m);
      bytes += m.body.length;
    }
    return out;
  }
  countMessages(vhost: string, queue: string, fromSeq: number): Promise<RangeTotals> {
    const s = this.node.streamFor(vhost, queue);
    return s ? Promise.resolve(s.count(fromSeq)) : this.local.countMessages(vhost, queue, fromSeq);
  }
  lastSeq(vhost: string, queue: string): Promise<number> {
    return this.local.lastSeq(vhost, queue);
  }
  putTotals(vhost: string, queue: string, totals: RangeTotals): void {
    this.local.putTotals(vhost, queue, totals);
  }

  /** The local store's writes only (what the owner of a queue answers other nodes' publishes after). */
  flushLocal(): Promise<void> {
    return this.local.flush();
  }

  async flush(hurry = true, waitForAcks = false): Promise<void> {
    const waits: Promise<unknown>[] = [...this.pending, this.local.flush(hurry, waitForAcks)];
    const forwarded = this.node.published();
    if (forwarded) waits.push(forwarded);
    waits.push(this.node.ownedFlushed());
    await Promise.all(waits);
    await this.flushDefinitions();
  }

  /**
   * flush() without the message writes (streams' and forwarded publishes'): a declare-ok or
   * delete-ok is not failed by another queue changing hands under its writes.
   */
  async flushDefinitions(): Promise<void> {
    await Promise.all([...this.pending]);
    // A topology change of this node (a declare, a binding) is answered once every other node
    // has applied it: a client told its queue exists may have it sent to through any node.
    if (this.ownRev > this.sharedRev) await this.shared(this.ownRev);
    if (this.failed) {
      const err = this.failed;
      this.failed = null;
      throw err;
    }
  }

  async close(): Promise<void> {
    // The clients are gone by now: nobody waits for confirms of forwarded publishes any more.
    // Topology writes still in flight get a moment to land.
    await Promise.race([Promise.all([...this.pending]), new Promise((r) => setTimeout(r, 2_000).unref())]).catch(() => undefined);
    await this.local.close();
  }
}
