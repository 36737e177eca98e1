// The embedded default store: LevelDB through `level`. Mutations queued during a tick are written as
// one batch (group commit) while the event loop goes on; flush() callers wait for their batch.
// A queue's persistent messages are kept in segments (segments.ts): one value per queue per batch.
// Records of the layout before segments (one per message, under 'm') are still read, acked and
// deleted, so a data directory written by an earlier version opens as it was.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { performance as perf } from 'node:perf_hooks';
import { Level } from 'level';
import { bodyLength } from '../frames/body.js';
import { ensureWritableDataDir } from './data-dir.js';
import type { DefinitionKind, Definitions, RangeTotals, ReadMessage, RecoveredState, Store, StoredMessage, StoredQueue } from './store.js';
import { DEFINITION_KINDS, queueKey } from './store.js';
import {
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
  messageLength,
  messagePrefix,
  NameCache,
  PAGE_PREFIX,
  prefixEnd,
  queueDefKey,
  QUEUE_PREFIX,
  SEGMENT_PREFIX,
  seqOf,
  STATE_PREFIX,
  TOTALS_PREFIX,
  DELIVERED_PREFIX,
  writeMessage,
  type RecordDefaults,
  BODIES_PREFIX,
  type DecodedMessage,
} from './codec.js';
import { buildSegments, decodeFiles, encodeFiles, Pending, QueueLog, type Segment, SegmentView } from './segments.js';
import { BODY_FILE_MIN, BodyFiles, type BodyRef } from './body-files.js';
import {
  COMPACTION_INTERVAL_MS,
  compactBodyFiles,
  type CompactionEvent,
  type CompactionHost,
  type NamingSegment,
  type SegmentRewrite,
} from './body-compaction.js';
import { ACK_HOLD_MS, ACK_HOLD_RETRY_MS, BUSY_LOOP, holdMs, UNHURRIED_MAX_BYTES } from './write-hold.js';
import { type Cursor, RecordCursor, SegmentCursor } from './cursors.js';
import { PageFile, resetPagesDir } from './page-file.js';
import { Journal, JOURNAL_SIZE, type JournalRecord, replayEntries, syncLevelLogs } from './journal.js';
import { deferred, LevelApplies, type Deferred } from './level-applies.js';

type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };
/** A put that has not been handed to LevelDB yet, which a delete of the same message may cancel. */
type PendingPut = { type: 'put'; key: Buffer; value: Buffer; cancelled?: boolean };
/**
 * What a write cycle does, in order. ops: one LevelDB batch, with the segments of the messages
 * queued while it was the last step; sync: it holds something a client is told is safe once it is
 * written (a persistent message a confirm waits for, a definition a declare-ok waits for), so it
 * is fsynced when the store is (see LevelStoreOptions.fsync). clear: a key range, which a LevelDB
 * batch cannot remove (a queue deletion). trim: a queue's messages from or below a seq, whose
 * boundary may fall inside a segment (see trim()).
 */
type Step =
  | { ops: Op[]; segments: Map<QueueLog, Pending>; sync: boolean }
  | { clear: { gte: Buffer; lt: Buffer } }
  | { trim: { log: QueueLog; from: number; below: number; generation: number } };
type OpsStep = Extract<Step, { ops: Op[] }>;

/**
 * classic-level's own batch, beneath abstract-level's: that one clones each operation, checks and
 * encodes its key and value and looks for hooks and write listeners, for operations that are
 * Buffers already here (no encoding, no hook, no listener). Measured, a batch of one put handed
 * over on the main thread: 20-26 µs through batch(), 11-12 µs through _batch(); a write cycle is
 * one or two batches, 1,200-2,100 cycles a second in goperf's publish-only. Used only while the
 * database is open (abstract-level's batch() otherwise: it waits for an open in progress).
 */
interface OwnBatch {
  _batch(ops: Op[], options: { sync: boolean }): Promise<void>;
}

/** Every key under a one-letter prefix. */
const range = (prefix: string): { gte: Buffer; lt: Buffer } => ({
  gte: Buffer.from(prefix + '\0'),
  lt: Buffer.from(prefix + '\x01'),
});

/** A record's length when its body is large enough to go to a body file. */
const lengthWithRef = (m: StoredMessage, d: RecordDefaults): number => messageLength(m, bodyLength(m.body) >= BODY_FILE_MIN, d);
/** A record's length with its body in the segment. */
const lengthInline = (m: StoredMessage, d: RecordDefaults): number => messageLength(m, false, d);
const writeInline = (out: Buffer, at: number, m: StoredMessage, d: RecordDefaults): number => writeMessage(out, at, m, undefined, d);

/** What backlogBytes counts for a message waiting for its batch: about its record's size. */
const approxBytes = (m: StoredMessage): number => m.properties.length + bodyLength(m.body) + 32;

export interface LevelStoreOptions {
  /**
   * fsync each batch that holds a persistent message or a definition before it counts as written
   * (true unless false is given): a confirmed message then survives power loss, not only a process
   * crash. Batches of acks, deletes and paged transient messages are never fsynced: nothing is
   * promised on them. Losing them to a power cut brings acked messages back (flagged redelivered
   * after the crash), never loses a confirmed one, and they usually become durable anyway with the
   * next synced record of the journal, which is sequential (journal.ts). Without the journal, a
   * synced LevelDB batch covers the log it is in, not one LevelDB rolled over from.
   */
  fsync?: boolean;
  /**
   * The journal's size in bytes (journal.ts; JOURNAL_SIZE): with fsync, each write cycle's batch is
   * synced as a record there rather than in LevelDB's log. 0: no journal, LevelDB syncs its batches.
   */
  journalSize?: number;
  /** A replay at open wrote back records of the journal (how many). */
  onJournalReplay?: (records: number) => void;
  /** The journal could not be made (a full disk): LevelDB syncs its own batches in this run. */
  onJournalUnavailable?: (err: Error) => void;
  /** Bytes after which a body file rolls over (body-files.ts; 64 MiB, smaller in tests). */
  bodyFileMax?: number;
  /**
   * How long a write cycle nobody hurries waits for deletes that cancel its puts (see startCycle):
   * 1 ms; longer in tests, which then see the order of ticks alone decide.
   */
  unhurriedMs?: number;
  /** How long a cycle may wait for the acks of large bodies consumers hold (write-hold.ts ACK_HOLD_MS). */
  ackHoldMs?: number;
  /** Hold the millisecond even while the event loop is mostly idle (tests that look at the ticks). */
  holdWhenIdle?: boolean;
  /** How often body files are looked at for compaction (body-compaction.ts); 0: only when compactBodies() is called. */
  bodyCompactionMs?: number;
  /** A body file's live bodies were moved out of it (for the log). */
  onCompaction?: (e: CompactionEvent) => void;
}

export class LevelStore implements Store {
  private readonly db: Level<Buffer, Buffer>;
  private steps: Step[] = [];
  private next: Deferred | null = null;
  private inflight: Promise<void> | null = null;
  /** The next write cycle is due: at a setImmediate ('now'), or held on a timer (see startCycle). */
  private scheduled: 'now' | NodeJS.Timeout | null = null;
  /** Someone waits for the next cycle and wants it soon: flush() without hurry=false, or a backlog. */
  private hurried = false;
  /** Someone waits for the next cycle and may not wait for acks: flush(false) without waitForAcks. */
  private soon = false;
  /** When the current hold began (perf.now()) and how long it is (write-hold.ts). */
  private holdStart = 0;
  private holdLength = 0;
  /** A look at the hold is due at the end of this tick (recheckHold). */
  private recheckQueued = false;
  /** Pending puts of large bodies to queues whose consumers keep up (putMessage's toConsumer), and their bytes. */
  private readonly forConsumers = new Set<StoredMessage>();
  private consumedBytes = 0;
  /** Of those put since the last write, the bytes acks cancelled. */
  private ackCancelledBytes = 0;
  /** Holds for acks are off until then (perf.now()): the last one did not pay. */
  private ackHoldOffUntil = 0;
  /** The event loop's utilization since then, and whether it was busy the last time it was looked at. */
  private eluFrom = perf.eventLoopUtilization();
  private busy = true;
  private readonly prefixes = new Map<string, Buffer>();
  onWrite?: ((seconds: number) => void) | undefined;
  /** Puts of paged messages and dead letters still waiting for the next batch, by queue and seq: a
   * message taken back before its batch is written costs no write at all. */
  private pendingPuts = new Map<Buffer, Map<number, PendingPut>>();
  private lastVhost = '';
  private lastName = '';
  private lastKind = '';
  private lastPrefix: Buffer | null = null;
  /** The ops step and list of the latest putMessage (see there). */
  private lastPutStep: OpsStep | null = null;
  private lastPut: Pending | undefined = undefined;
  /** Each queue's segments, by queueKey. */
  private readonly logs = new Map<string, QueueLog>();
  private lastLogVhost = '';
  private lastLogName = '';
  private lastLog: QueueLog | null = null;
  /**
   * The queue putPaged or deletePaged last found, as logOf's: a Map lookup by a key made of two
   * strings per paged message (a new string, hashed each time) was 10% of a transient flood.
   */
  private lastPagesVhost = '';
  private lastPagesName = '';
  private lastPages: PageFile | null = null;
  /** Segments whose state changed since it was written: written (or deleted) in the next batch. */
  private dirty: Segment[] = [];
  /** Queues whose delivered mark moved since it was written (QueueLog.delivered): in the next batch too. */
  private deliveredLogs: QueueLog[] = [];
  /**
   * Delivered marks read at open, by key (latin1), until their queue's log is made. A mark is only
   * needed once its messages are read.
   */
  private readonly loadedDelivered = new Map<string, number>();
  /**
   * State records read at open, by state prefix then first seq, until their segment is read and
   * takes its state over. A segment's state is only needed once its messages are.
   */
  private readonly loadedStates = new Map<string, Map<number, Buffer>>();
  /** Message prefixes ('m' …) of the queues that hold records of the layout before segments. */
  private readonly legacy = new Set<string>();
  /**
   * The page files of the queues that paged a transient message out in this run (page-file.ts),
   * by queueKey, in the pages/ directory, emptied at every start.
   */
  private readonly pageFiles = new Map<string, PageFile>();
  private pagesDir = '';
  /** Large persistent bodies, outside LevelDB (body-files.ts). */
  private readonly bodies: BodyFiles;
  /**
   * Body files read at open ('X' records), by bodies prefix then first seq, until their segment
   * is read (and takes them over) or deleted unread.
   */
  private readonly loadedBodies = new Map<string, Map<number, number[]>>();
  /** Body files whose segments went in the batches being built: released once they are written. */
  private released: number[] = [];
  /** Where the large bodies of the cycle being built went (a message put in two queues is written once). */
  private readonly refs = new Map<StoredMessage, BodyRef>();
  /** Value bytes in steps not yet handed to LevelDB, and in the batch being written. */
  private queuedBytes = 0;
  private writingBytes = 0;
  /** Segments a compaction rewrites in the next cycle (body-compaction.ts), and the pass running. */
  private rewrites: SegmentRewrite[] = [];
  private compacting: Promise<CompactionEvent[]> | null = null;
  private compactTimer: NodeJS.Timeout | null = null;
  private closing = false;
  /** Bumped by every cycle that moved bodies: a read that found a body file gone reads again. */
  private bodiesMoved = 0;
  /** Where synced batches are made durable (journal.ts); null without fsync or with journalSize 0. */
  private journal: Journal | null = null;
  /** LevelDB's side of the journaled batches, applied behind their records (level-applies.ts). */
  private readonly applies = new LevelApplies<Op>((ops) => this.batchNow(ops, false));

  constructor(
    private readonly dir: string,
    private readonly options: LevelStoreOptions = {},
  ) {
    this.db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    this.bodies = new BodyFiles(dir, options.bodyFileMax);
  }

  async open(): Promise<RecoveredState> {
    await ensureWritableDataDir(this.dir);
    await this.db.open();
    await this.openJournal();
    const cleanShutdown = (await this.db.get(CLEAN_SHUTDOWN_KEY)) !== undefined;
    // Paged messages were transient: a new run starts without them (in page files now; in
    // LevelDB's 't' range in a data directory written by an earlier version).
    this.pagesDir = resetPagesDir(this.dir);
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
    // Segment states are small (partly acked segments only): all read now, each applied when its
    // segment is read.
    for await (const [k, v] of this.db.iterator(range(STATE_PREFIX))) {
      const prefix = k.toString('latin1', 0, k.length - 8);
      let m = this.loadedStates.get(prefix);
      if (!m) this.loadedStates.set(prefix, (m = new Map()));
      m.set(seqOf(k.subarray(k.length - 8)), v);
    }
    for await (const [k, v] of this.db.iterator(range(DELIVERED_PREFIX))) {
      if (v.length === 8) this.loadedDelivered.set(k.toString('latin1'), Number(v.readBigUInt64BE(0)));
    }
    await this.loadBodies();
    await this.findLegacy();
    const every = this.options.bodyCompactionMs ?? COMPACTION_INTERVAL_MS;
    if (every > 0) {
      this.compactTimer = setInterval(() => {
        this.compactBodies().catch(() => {
          // A failed pass leaves everything as it was (its copies are garbage); the next one retries.
        });
      }, every);
      this.compactTimer.unref();
    }
    await this.db.del(CLEAN_SHUTDOWN_KEY, { sync: true });
    return { queues, definitions, cleanShutdown, totals };
  }

  /**
   * Replays what the journal holds since its last checkpoint (a crash: LevelDB may have lost
   * batches handed to it without sync), then starts it anew, or removes it when it is off now.
   */
  private async openJournal(): Promise<void> {
    const records = replayEntries(this.dir);
    let replayed = 0;
    if (records) {
      for (const e of records) {
        if (e.kind === 'batch') await this.db.batch(e.ops, { sync: false });
        else await this.db.clear({ gte: e.gte, lt: e.lt });
        replayed++;
      }
      if (replayed > 0) this.options.onJournalReplay?.(replayed);
    }
    const size = this.options.journalSize ?? JOURNAL_SIZE;
    if (this.options.fsync !== false && size > 0) {
      try {
        this.journal = await Journal.open(this.dir, size, async () => {
          // A checkpoint declares every record before it done: LevelDB must have them all.
          await this.applies.settled();
          await syncLevelLogs(this.dir);
        });
        return;
      } catch (e) {
        // A disk too full for the file: LevelDB syncs its own batches (slower), as with journalSize
        // 0, rather than no start at all; the disk alarm then tells the rest.
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
        this.options.onJournalUnavailable?.(e as Error);
      }
    }
    if (Journal.exists(this.dir)) {
      // Its records (if any) are in LevelDB now; a later start must not write them over what follows.
      await syncLevelLogs(this.dir);
      Journal.remove(this.dir);
    }
  }

  /**
   * Which segments' bodies are in which body files ('X' records, small): the files no segment
   * refers to are deleted. A segment that refers to a file that is gone had every message acked:
   * its file was deleted after the batch deleting it was written, and that batch (not synced:
   * acks are not) was lost to a power cut. It goes now, with its state.
   */
  private async loadBodies(): Promise<void> {
    const refs = new Map<number, number>();
    const gone: Buffer[] = [];
    // Thousands of segments share a file: each file is looked for once.
    const present = new Map<number, boolean>();
    const exists = (f: number): boolean => {
      let e = present.get(f);
      if (e === undefined) present.set(f, (e = this.bodies.exists(f)));
      return e;
    };
    for await (const [k, v] of this.db.iterator(range(BODIES_PREFIX))) {
      const files = decodeFiles(v);
      if (!files.every(exists)) {
        const rest = k.subarray(1);
        gone.push(k, Buffer.concat([Buffer.from(SEGMENT_PREFIX), rest]), Buffer.concat([Buffer.from(STATE_PREFIX), rest]));
        this.loadedStates.get(STATE_PREFIX + k.toString('latin1', 1, k.length - 8))?.delete(seqOf(k.subarray(k.length - 8)));
        continue;
      }
      for (const f of files) refs.set(f, (refs.get(f) ?? 0) + 1);
      const prefix = k.toString('latin1', 0, k.length - 8);
      let m = this.loadedBodies.get(prefix);
      if (!m) this.loadedBodies.set(prefix, (m = new Map()));
      m.set(seqOf(k.subarray(k.length - 8)), files);
    }
    if (gone.length > 0) await this.db.batch(gone.map((key) => ({ type: 'del' as const, key })), { sync: true });
    this.bodies.open(refs);
  }

  /** Which queues still hold one record per message (written before segments): one seek per queue. */
  private async findLegacy(): Promise<void> {
    const it = this.db.keys(range(MESSAGE_PREFIX));
    try {
      for (;;) {
        const k = await it.next();
        if (k === undefined) break;
        const prefix = k.subarray(0, k.length - 8);
        this.legacy.add(prefix.toString('latin1'));
        it.seek(prefixEnd(prefix));
      }
    } finally {
      await it.close();
    }
  }

  readonly pagesToDisk = true;
  readonly keepsLevelsApart: boolean = true;
  readonly sharesTransient = false;

  async readMessages(vhost: string, queue: string, fromSeq: number, maxCount: number, maxBytes: number): Promise<ReadMessage[]> {
    const moved = this.bodiesMoved;
    await this.readable();
    const cursors = await this.cursors(vhost, queue, fromSeq);
    const out: ReadMessage[] = [];
    let bytes = 0;
    try {
      // The cursors' ranges are merged by seq as they are read; values alone, in batches (nextv):
      // recovering a million messages is measured by this loop.
      while (out.length < maxCount && (bytes < maxBytes || out.length === 0)) {
        let pick: Cursor | null = null;
        let pickSeq = 0;
        let live = 0;
        for (const c of cursors) {
          let seq = c.peek();
          while (seq < 0 && !c.done) {
            await c.refill(maxCount - out.length, Math.max(1, maxBytes - bytes));
            seq = c.peek();
          }
          if (seq < 0) continue;
          live++;
          if (!pick || seq < pickSeq) {
            pick = c;
            pickSeq = seq;
          }
        }
        if (!pick) break;
        // Nearly always one range holds what is left (the segments): then its batch is taken
        // without peeking at the others for each message.
        do {
          const m = pick.take();
          const ref = (m as DecodedMessage).bodyRef;
          bytes += ref ? ref.length : m.body.length;
          out.push(m);
        } while (live === 1 && out.length < maxCount && bytes < maxBytes && pick.peek() >= 0);
      }
    } finally {
      await Promise.all(cursors.map((c) => c.close()));
    }
    // Bodies in body files are read now, all at once (the segments were read first, in order).
    let reads: Promise<void>[] | null = null;
    let lost = false;
    for (const m of out as DecodedMessage[]) {
      const ref = m.bodyRef;
      if (!ref) continue;
      (reads ??= []).push(
        this.bodies.read(ref).then((b) => {
          if (b) {
            m.body = b;
            m.bodyRef = undefined;
          } else lost = true;
        }),
      );
    }
    if (reads) await Promise.all(reads);
    if (!lost) return out;
    // Its body was moved (compaction) after its segment was read: read again, from the new refs.
    if (this.bodiesMoved !== moved) return this.readMessages(vhost, queue, fromSeq, maxCount, maxBytes);
    // Otherwise its body file went because it was deleted meanwhile: it is not read.
    return out.filter((m) => !(m as DecodedMessage).bodyRef);
  }

  async countMessages(vhost: string, queue: string, fromSeq: number): Promise<RangeTotals> {
    await this.readable();
    const totals: RangeTotals = { count: 0, bytes: 0, lastSeq: 0 };
    const cursors = await this.cursors(vhost, queue, fromSeq);
    try {
      for (const c of cursors) {
        for (;;) {
          const seq = c.peek();
          if (seq < 0) {
            if (c.done) break;
            await c.refill(Infinity, Infinity);
            continue;
          }
          totals.count++;
          totals.bytes += c.skip();
          if (seq > totals.lastSeq) totals.lastSeq = seq;
        }
      }
    } finally {
      await Promise.all(cursors.map((c) => c.close()));
    }
    return totals;
  }

  /** Cursors over every range that may hold the queue's messages from fromSeq on. */
  private async cursors(vhost: string, queue: string, fromSeq: number): Promise<Cursor[]> {
    const log = this.logOf(vhost, queue);
    const names = new NameCache();
    // The segment holding fromSeq starts before it: found in memory, or by a seek back.
    let start = log.segmentOf(fromSeq)?.key;
    if (!start) {
      const [before] = await this.db.keys({ gte: log.prefix, lte: messageKey(log.prefix, fromSeq), reverse: true, limit: 1 }).all();
      start = before ?? messageKey(log.prefix, fromSeq);
    }
    const cursors: Cursor[] = [
      new SegmentCursor(this.db.values({ gte: start, lt: prefixEnd(log.prefix) }), fromSeq, names, (view) => this.known(log, view)),
    ];
    if (log.legacy) {
      const prefix = this.prefix(vhost, queue, MESSAGE_PREFIX);
      cursors.push(new RecordCursor(this.db.values({ gte: messageKey(prefix, fromSeq), lt: prefixEnd(prefix) }), false, names));
    }
    const pages = this.pageFiles.get(queueKey(vhost, queue));
    if (pages?.holds) cursors.push(pages.cursor(fromSeq));
    return cursors;
  }

  /**
   * The in-memory segment of a segment value read back: the one known, or a new one with the
   * state its record left (acks from an earlier run). null for a segment of this run that is gone
   * (every message acked) but still in the snapshot a read started from.
   */
  private known(log: QueueLog, view: SegmentView): Segment | null {
    const first = view.seq(0);
    const seg = log.segmentOf(first);
    if (seg) return seg.first === first ? seg : null;
    if (log.firstWritten !== 0 && first >= log.firstWritten) return null;
    const fresh = view.segment(log);
    const states = this.loadedStates.get(log.statePrefix.toString('latin1'));
    const state = states?.get(first);
    if (state) {
      fresh.applyState(state);
      states!.delete(first);
    }
    const bodies = this.loadedBodies.get(log.bodiesPrefix.toString('latin1'));
    const files = bodies?.get(first);
    if (files) {
      fresh.files = files;
      bodies!.delete(first);
    }
    log.insert(fresh);
    return fresh;
  }

  async lastSeq(vhost: string, queue: string): Promise<number> {
    await this.readable();
    const log = this.logOf(vhost, queue);
    let last = 0;
    // The newest segment holding a message not acked.
    const it = this.db.values({ gte: log.prefix, lt: prefixEnd(log.prefix), reverse: true });
    try {
      for (;;) {
        const v = await it.next();
        if (v === undefined) break;
        const view = new SegmentView(v);
        const seg = view.count > 0 ? this.known(log, view) : null;
        if (!seg || seg.live === 0) continue;
        let i = view.count - 1;
        while (i >= 0 && seg.isAcked(i)) i--;
        last = view.seq(i);
        break;
      }
    } finally {
      await it.close();
    }
    if (log.legacy) {
      const prefix = this.prefix(vhost, queue, MESSAGE_PREFIX);
      const [v] = await this.db.values({ gte: prefix, lt: prefixEnd(prefix), reverse: true, limit: 1 }).all();
      if (v) last = Math.max(last, seqOf(v));
    }
    return last;
  }

  putTotals(vhost: string, queue: string, totals: RangeTotals): void {
    this.op({ type: 'put', key: Buffer.from(`${TOTALS_PREFIX}\0${queueKey(vhost, queue)}`, 'utf8'), value: Buffer.from(JSON.stringify(totals)) }, false);
  }

  putQueue(q: StoredQueue): void {
    this.op({ type: 'put', key: queueDefKey(q.vhost, q.name), value: encodeQueue(q) }, true);
  }

  deleteQueue(vhost: string, name: string): void {
    this.op({ type: 'del', key: queueDefKey(vhost, name) }, true);
    const k = queueKey(vhost, name);
    const log = this.logs.get(k);
    if (log) {
      // Nothing more is written for it: its pending messages and segment states are dropped.
      log.deleted = true;
      for (const seg of log.segs) {
        seg.gone = true;
        if (seg.files) this.released.push(...seg.files);
      }
      for (const p of log.pending) this.queuedBytes -= this.cancelled(p.cancelWhere(() => true));
      this.logs.delete(k);
      this.lastLog = null;
    }
    this.loadedStates.delete(messagePrefix(vhost, name, STATE_PREFIX).toString('latin1'));
    this.loadedDelivered.delete(messagePrefix(vhost, name, DELIVERED_PREFIX).toString('latin1'));
    const bodiesKey = messagePrefix(vhost, name, BODIES_PREFIX).toString('latin1');
    for (const files of this.loadedBodies.get(bodiesKey)?.values() ?? []) this.released.push(...files);
    this.loadedBodies.delete(bodiesKey);
    this.legacy.delete(messagePrefix(vhost, name, MESSAGE_PREFIX).toString('latin1'));
    this.pageFiles.get(k)?.drop();
    this.pageFiles.delete(k);
    this.lastPages = null;
    for (const kind of [SEGMENT_PREFIX, STATE_PREFIX, BODIES_PREFIX, MESSAGE_PREFIX, PAGE_PREFIX, DEAD_LETTER_PREFIX, DELIVERED_PREFIX]) {
      const prefix = this.prefix(vhost, name, kind);
      this.pendingPuts.delete(prefix);
      this.steps.push({ clear: { gte: prefix, lt: prefixEnd(prefix) } });
      this.prefixes.delete(kind + k);
    }
    this.lastPrefix = null;
    this.schedule();
  }

  deleteMessagesFrom(vhost: string, name: string, fromSeq: number): void {
    this.trim(this.logOf(vhost, name), fromSeq, 0);
    const prefix = this.prefix(vhost, name, MESSAGE_PREFIX);
    // Puts queued before this run before it (steps are ordered), so the range takes them too.
    this.steps.push({ clear: { gte: messageKey(prefix, fromSeq), lt: prefixEnd(prefix) } });
    // The broker purges the paged part from its oldest message (PagedTail.clear): the whole file.
    this.pageFiles.get(queueKey(vhost, name))?.drop();
    this.schedule();
  }

  deleteMessagesBelow(vhost: string, name: string, belowSeq: number): void {
    this.trim(this.logOf(vhost, name), Infinity, belowSeq);
    const prefix = this.prefix(vhost, name, MESSAGE_PREFIX);
    this.steps.push({ clear: { gte: messageKey(prefix, 0), lt: messageKey(prefix, belowSeq) } });
    this.schedule();
  }

  /**
   * Removes a queue's segment messages with seq ≥ from or < below. Whole segments go by key
   * range; a segment the boundary falls inside keeps its place and has the messages past the
   * boundary marked acked. What memory knows is changed at once (so acks and reads that follow
   * see it); the trim step, in its turn, finds the boundary segment in the store too, in case it
   * was not known yet (read by nobody in this run).
   */
  private trim(log: QueueLog, from: number, below: number): void {
    const drop = (seq: number): boolean => seq >= from || seq < below;
    for (const p of log.pending) this.queuedBytes -= this.cancelled(p.cancelWhere(drop));
    const generation = log.generation++;
    this.trimKnown(log, from, below, generation);
    // Segments of messages put after this call are of a later generation: the step leaves them be.
    this.steps.push({ trim: { log, from, below, generation } });
  }

  /** trim() on the segments known in memory, up to generation: those wholly past the boundary are forgotten. */
  private trimKnown(log: QueueLog, from: number, below: number, generation: number): void {
    for (const seg of [...log.segs]) {
      if (seg.generation > generation) continue;
      if (seg.first >= from || seg.last < below) {
        seg.gone = true;
        log.remove(seg);
        // Released after the step that clears its range: the batch this cycle writes, or the next.
        if (seg.files) this.released.push(...seg.files);
      } else if (seg.last >= from || seg.first < below) {
        for (let i = 0; i < seg.count; i++) {
          const seq = seg.seqAt(i);
          if ((seq >= from || seq < below) && seg.ack(i)) this.markDirty(seg);
        }
      }
    }
  }

  /** The trim step: the boundary segment, known or read now, then the key ranges. */
  private async runTrim(log: QueueLog, from: number, below: number, generation: number): Promise<void> {
    const boundary = from !== Infinity ? from : below;
    await this.applies.settled();
    const [entry] = await this.db.iterator({ gte: log.prefix, lt: messageKey(log.prefix, boundary), reverse: true, limit: 1 }).all();
    let keepFrom = messageKey(log.prefix, below);
    if (entry) {
      const view = new SegmentView(entry[1]);
      const seg = view.count > 0 && !log.deleted ? this.known(log, view) : null;
      // A segment the boundary falls inside stays (its messages before from, or from below on).
      if (seg && seg.last >= boundary) keepFrom = entry[0];
    }
    this.trimKnown(log, from, below, generation);
    // Segments of an earlier run never read in this one: their body files are known from open.
    const keepSeq = seqOf(keepFrom.subarray(log.prefix.length));
    const loaded = this.loadedBodies.get(log.bodiesPrefix.toString('latin1'));
    for (const [first, files] of loaded ?? []) {
      if (from !== Infinity ? first >= from : first < keepSeq) {
        this.released.push(...files);
        loaded!.delete(first);
      }
    }
    if (from !== Infinity) {
      for (const p of [log.prefix, log.statePrefix, log.bodiesPrefix]) await this.clearNow(messageKey(p, from), prefixEnd(p));
    } else {
      const tail = keepFrom.subarray(log.prefix.length);
      for (const p of [log.prefix, log.statePrefix, log.bodiesPrefix]) await this.clearNow(p, Buffer.concat([p, tail]));
    }
  }

  putDefinition<K extends DefinitionKind>(kind: K, id: string, value: Definitions[K]): void {
    this.op({ type: 'put', key: definitionKey(DEFINITION_PREFIX[kind], id), value: encodeDefinition(value) }, true);
  }

  deleteDefinition(kind: DefinitionKind, id: string): void {
    this.op({ type: 'del', key: definitionKey(DEFINITION_PREFIX[kind], id) }, true);
  }

  putMessage(vhost: string, queue: string, m: StoredMessage, toConsumer = false): void {
    const log = this.logOf(vhost, queue);
    const step = this.opsStep();
    step.sync = true;
    // The list the previous put went to, when it is this one (a step's lists are only ever added):
    // a Map lookup per message saved.
    let p = step === this.lastPutStep && log === this.lastPut?.log ? this.lastPut : step.segments.get(log);
    // The layout's one rule: a queue's segments do not overlap. Whatever the queue put so far is in
    // earlier lists (written, or before a range delete), so a new list starts above it. The broker
    // only ever stores a queue's messages in seq order (store.ts); a message that came out of order
    // all the same is kept as a record of its own, which reads merge by seq.
    if (m.seq <= (p ? log.floor : log.maxSeq)) {
      log.legacy = true;
      this.put(this.prefix(vhost, queue, MESSAGE_PREFIX), m, true);
      return;
    }
    if (!p) {
      log.floor = log.maxSeq;
      p = new Pending(log);
      step.segments.set(log, p);
      log.pending.push(p);
    }
    if (m.seq > log.maxSeq) log.maxSeq = m.seq;
    p.add(m);
    this.lastPutStep = step;
    this.lastPut = p;
    this.queuedBytes += approxBytes(m);
    if (toConsumer && bodyLength(m.body) >= BODY_FILE_MIN) {
      this.forConsumers.add(m);
      this.consumedBytes += approxBytes(m);
    }
    this.schedule();
  }

  deleteMessage(vhost: string, queue: string, seq: number): boolean {
    const log = this.logOf(vhost, queue);
    for (let i = log.pending.length - 1; i >= 0; i--) {
      const m = log.pending[i]!.cancel(seq);
      if (m) {
        // Acked before its batch was written: it costs no write at all (RabbitMQ does the same
        // for messages consumed quickly).
        const bytes = approxBytes(m);
        this.queuedBytes -= bytes;
        // (Most cancelled puts are small ones: the set is nearly always empty then.)
        if (this.consumedBytes > 0 && this.forConsumers.delete(m)) {
          this.consumedBytes -= bytes;
          this.ackCancelledBytes += bytes;
        }
        return true;
      }
    }
    const seg = log.segmentOf(seq);
    const i = seg ? seg.position(seq) : -1;
    if (i >= 0) {
      if (seg!.ack(i)) {
        this.markDirty(seg!);
        this.schedule();
      }
      return false;
    }
    if (log.legacy) this.del(this.prefix(vhost, queue, MESSAGE_PREFIX), seq);
    return false;
  }

  readonly ackHoldFrom = BODY_FILE_MIN;

  /** The bytes of puts just cancelled (and no longer counted as going to consumers). */
  private cancelled(ms: StoredMessage[]): number {
    let n = 0;
    for (const m of ms) {
      const bytes = approxBytes(m);
      n += bytes;
      if (this.consumedBytes > 0 && this.forConsumers.delete(m)) this.consumedBytes -= bytes;
    }
    return n;
  }

  putRedelivered(vhost: string, queue: string, m: StoredMessage): void {
    const log = this.logOf(vhost, queue);
    for (const p of log.pending) {
      const old = p.replace(m);
      if (!old) continue;
      if (this.forConsumers.delete(old)) this.forConsumers.add(m);
      return;
    }
    const seg = log.segmentOf(m.seq);
    const i = seg ? seg.position(m.seq) : -1;
    if (i >= 0) {
      seg!.markRedelivered(i, m.deliveryCount);
      this.markDirty(seg!);
      this.schedule();
    } else if (log.legacy) {
      this.op({ type: 'put', key: messageKey(this.prefix(vhost, queue, MESSAGE_PREFIX), m.seq), value: encodeMessage(m) }, false);
    }
  }

  markCheckedOut(vhost: string, queue: string, seq: number): void {
    const log = this.logOf(vhost, queue);
    if (seq > log.delivered) {
      // The usual case, a queue delivering in order: the mark moves, written once per cycle.
      log.delivered = seq;
      if (!log.deliveredDirty) {
        log.deliveredDirty = true;
        this.deliveredLogs.push(log);
        this.schedule();
      }
      return;
    }
    // At or below the mark: a message returned in place, out again.
    for (const p of log.pending) if (p.unback(seq)) return;
    const seg = log.segmentOf(seq);
    const i = seg ? seg.position(seq) : -1;
    if (i >= 0 && seg!.clearBack(i)) {
      this.markDirty(seg!);
      this.schedule();
    }
  }

  putDeadLetter(vhost: string, queue: string, m: StoredMessage): void {
    this.put(this.prefix(vhost, queue, DEAD_LETTER_PREFIX), m, false);
  }

  deleteDeadLetter(vhost: string, queue: string, seq: number): void {
    this.del(this.prefix(vhost, queue, DEAD_LETTER_PREFIX), seq);
  }

  async readDeadLetters(vhost: string, queue: string): Promise<StoredMessage[]> {
    await this.readable();
    const prefix = this.prefix(vhost, queue, DEAD_LETTER_PREFIX);
    const values = await this.db.values({ gte: prefix, lt: prefixEnd(prefix) }).all();
    return values.map((v) => decodeMessage(v));
  }

  putPaged(vhost: string, queue: string, m: StoredMessage): void {
    this.pagesOf(vhost, queue, true)!.append(m);
  }

  deletePaged(vhost: string, queue: string, seq: number): void {
    this.pagesOf(vhost, queue, false)?.taken(seq);
  }

  /** The queue's page file; made if create and it has none. */
  private pagesOf(vhost: string, queue: string, create: boolean): PageFile | undefined {
    if (queue === this.lastPagesName && vhost === this.lastPagesVhost && this.lastPages) return this.lastPages;
    const k = queueKey(vhost, queue);
    let pages = this.pageFiles.get(k);
    if (!pages) {
      if (!create) return undefined;
      this.pageFiles.set(k, (pages = new PageFile(this.pagesDir)));
    }
    this.lastPagesVhost = vhost;
    this.lastPagesName = queue;
    this.lastPages = pages;
    return pages;
  }

  get backlogBytes(): number {
    let pages = 0;
    for (const p of this.pageFiles.values()) pages += p.pendingBytes;
    // Bodies on their way to consumers are in memory until acked, written or not.
    return this.queuedBytes - this.consumedBytes + this.writingBytes + pages;
  }

  private put(prefix: Buffer, m: StoredMessage, durable: boolean): void {
    const op: PendingPut = { type: 'put', key: messageKey(prefix, m.seq), value: encodeMessage(m) };
    this.queuedBytes += op.value.length;
    let puts = this.pendingPuts.get(prefix);
    if (!puts) this.pendingPuts.set(prefix, (puts = new Map()));
    const earlier = puts.get(m.seq);
    if (earlier) earlier.cancelled = true; // a rewrite supersedes it
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

  /**
   * Resolves once everything queued so far is written: LevelDB's batches and the page files.
   * hurry false: the caller does not need it soon; waitForAcks: nor before the acks of what
   * consumers hold (see startCycle).
   */
  flush(hurry = true, waitForAcks = false): Promise<void> {
    const level = this.flushLevel(hurry, waitForAcks);
    let pages: Promise<void>[] | null = null;
    for (const p of this.pageFiles.values()) if (p.pendingBytes > 0) (pages ??= []).push(p.flushed());
    return pages ? Promise.all([level, ...pages]).then(() => undefined) : level;
  }

  /** Resolves once everything handed to the store so far can be read back (LevelDB, page files). */
  private async readable(): Promise<void> {
    await this.flush();
    await this.applies.settled();
  }

  progress(): Promise<boolean> {
    const waits: Promise<void>[] = [];
    if (this.inflight) waits.push(this.inflight);
    else if (this.steps.length > 0 || this.statesChanged) waits.push(this.flushLevel());
    for (const p of this.pageFiles.values()) if (p.pendingBytes > 0) waits.push(p.progress());
    if (waits.length === 0) return Promise.resolve(false);
    const done = (): boolean => true;
    return Promise.race(waits.map((w) => w.then(done, done)));
  }

  private flushLevel(hurry = true, waitForAcks = false): Promise<void> {
    if (this.steps.length === 0 && !this.statesChanged) return this.inflight ?? Promise.resolve();
    this.next ??= deferred();
    if (hurry) this.hurried = true;
    else if (!waitForAcks) this.soon = true;
    this.schedule();
    return this.next.promise;
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.compactTimer) clearInterval(this.compactTimer);
    await this.compacting?.catch(() => {});
    while (this.steps.length > 0 || this.statesChanged || this.inflight) {
      await this.flush().catch(() => {});
      while (this.inflight) await this.inflight.catch(() => {});
    }
    for (const p of this.pageFiles.values()) p.drop();
    this.pageFiles.clear();
    this.lastPages = null;
    this.bodies.close();
    await this.applies.settled().catch(() => {});
    await this.journal?.close();
    this.journal = null;
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

  private logOf(vhost: string, name: string): QueueLog {
    if (name === this.lastLogName && vhost === this.lastLogVhost && this.lastLog) return this.lastLog;
    const k = queueKey(vhost, name);
    let log = this.logs.get(k);
    if (!log) {
      const deliveredKey = messagePrefix(vhost, name, DELIVERED_PREFIX);
      log = new QueueLog(messagePrefix(vhost, name, SEGMENT_PREFIX), messagePrefix(vhost, name, STATE_PREFIX), messagePrefix(vhost, name, BODIES_PREFIX), deliveredKey);
      const delivered = this.loadedDelivered.get(deliveredKey.toString('latin1'));
      if (delivered !== undefined) log.delivered = delivered;
      log.legacy = this.legacy.has(messagePrefix(vhost, name, MESSAGE_PREFIX).toString('latin1'));
      this.logs.set(k, log);
    }
    this.lastLogVhost = vhost;
    this.lastLogName = name;
    this.lastLog = log;
    return log;
  }

  /** The ops step new operations go to: the last step, or a new one after a range delete. */
  private opsStep(): OpsStep {
    const last = this.steps[this.steps.length - 1];
    if (last && 'ops' in last) return last;
    const step: OpsStep = { ops: [], segments: new Map(), sync: false };
    this.steps.push(step);
    return step;
  }

  /** Segment states or delivered marks wait for the next batch. */
  private get statesChanged(): boolean {
    return this.dirty.length > 0 || this.deliveredLogs.length > 0;
  }

  /** The segment's state is to be written in the next batch (once, however many acks change it). */
  private markDirty(seg: Segment): void {
    if (seg.dirty) return;
    seg.dirty = true;
    this.dirty.push(seg);
  }

  /** Queues op in the current batch; durable: someone is told it is safe once written (see Step). */
  private op(op: Op, durable: boolean): void {
    const step = this.opsStep();
    step.ops.push(op);
    if (durable) step.sync = true;
    this.schedule();
  }

  /**
   * Starts the next write cycle once this tick is over, or later when its waiters said they need
   * not hurry (see startCycle).
   */
  private schedule(): void {
    if (this.inflight || this.scheduled === 'now') return;
    if (this.scheduled !== null) {
      // Held: a flush() that hurries or a publisher held by backlogBytes (progress()) ends the
      // hold; what else came is looked at once the tick's deliveries are done (recheckHold).
      if (this.hurried) return this.endHold();
      if (!this.recheckQueued && (this.holdingForAcks || this.queuedBytes >= UNHURRIED_MAX_BYTES)) {
        this.recheckQueued = true;
        setImmediate(this.recheckHold);
      }
      return;
    }
    this.scheduled = 'now';
    setImmediate(this.startCycle);
  }

  private readonly scheduleNext = (): void => this.schedule();

  /** The current hold is the long one, for acks (write-hold.ts ACK_HOLD_MS). */
  private get holdingForAcks(): boolean {
    return this.holdLength > 0 && this.holdLength === (this.options.ackHoldMs ?? ACK_HOLD_MS);
  }

  private endHold(): void {
    clearTimeout(this.scheduled as NodeJS.Timeout);
    this.scheduled = 'now';
    setImmediate(this.writeNow);
  }

  /**
   * Whether the event loop was busy (BUSY_LOOP) over the last ~100 ms. The millisecond's hold saves
   * work (acks cancel puts) at the price of confirm latency: worth it only when the work is what
   * limits, not when the loop is mostly idle and publishers wait on their confirms.
   */
  private loopBusy(): boolean {
    const d = perf.eventLoopUtilization(this.eluFrom);
    if (d.idle + d.active >= 100) {
      this.busy = d.utilization >= BUSY_LOOP;
      this.eluFrom = perf.eventLoopUtilization();
    }
    return this.busy;
  }

  /** How long the cycle would hold now (write-hold.ts). */
  private holdNow(): number {
    return holdMs(
      {
        hurried: this.hurried,
        waited: this.next !== null,
        mayWaitForAcks: !this.soon && perf.now() >= this.ackHoldOffUntil,
        queuedBytes: this.queuedBytes,
        consumedBytes: this.consumedBytes,
      },
      this.loopBusy() || this.options.holdWhenIdle ? (this.options.unhurriedMs ?? 1) : 0,
      this.options.ackHoldMs,
    );
  }

  /**
   * A cycle whose waiters all flushed with hurry=false waits a millisecond: persistent messages
   * whose confirms their consumers' acks may settle (confirms.ts ConfirmWait). A put whose delete
   * comes meanwhile is never written (deleteMessage cancels it); with a cycle right after each
   * publish tick most were written, then deleted. Decided here, after the tick's publishes have
   * flushed and its deliveries are made, not when the first put came. A cycle nobody waits for
   * (acks, persistent publishes without confirms), or with no put left to cancel (its acks came
   * already), is not held. Large bodies that consumers hold wait longer, when every waiter may
   * wait for their acks (write-hold.ts); other large bodies are written at once.
   */
  private readonly startCycle = (): void => {
    const ms = this.holdNow();
    if (ms === 0) return this.writeNow();
    this.holdStart = perf.now();
    this.holdLength = ms;
    this.scheduled = setTimeout(this.writeNow, ms);
  };

  /** Puts came during a hold: the hold it should be now, from when it began. */
  private readonly recheckHold = (): void => {
    this.recheckQueued = false;
    if (this.scheduled === null || this.scheduled === 'now') return;
    const ms = this.holdNow();
    if (ms === this.holdLength) return;
    const left = this.holdStart + ms - perf.now();
    clearTimeout(this.scheduled);
    if (ms === 0 || left <= 0) {
      this.scheduled = null;
      return this.writeNow();
    }
    this.holdLength = ms;
    this.scheduled = setTimeout(this.writeNow, left);
  };

  private readonly writeNow = (): void => {
    this.scheduled = null;
    this.writeSteps();
  };

  /**
   * The cycle's LevelDB batches, built now: each ops step's segments are encoded (and known from
   * here on, so acks during the write mark them), and the segment states changed since the last
   * cycle go in its last batch (every message they concern is in a batch before it).
   */
  private build(steps: Step[]): (Step | { batch: Op[]; sync: boolean })[] {
    const fsync = this.options.fsync !== false;
    const out: (Step | { batch: Op[]; sync: boolean })[] = [];
    for (const s of steps) {
      if (!('ops' in s)) {
        out.push(s);
        continue;
      }
      const batch: Op[] = [];
      for (const p of s.segments.values()) {
        const log = p.log;
        log.pending.splice(log.pending.indexOf(p), 1);
        if (log.deleted || p.live === 0) continue;
        const files = this.appendBodies(p);
        const built = files
          ? buildSegments(p, lengthWithRef, (out, at, m, d) => writeMessage(out, at, m, bodyLength(m.body) >= BODY_FILE_MIN ? this.refs.get(m) : undefined, d))
          : buildSegments(p, lengthInline, writeInline);
        for (const b of built) {
          batch.push({ type: 'put', key: b.key, value: b.value });
          if (files) {
            // Each segment of the list names every file the list's bodies went to (nearly always one).
            b.segment.files = files;
            for (const f of files) this.bodies.ref(f);
            batch.push({ type: 'put', key: b.segment.bodiesKey, value: encodeFiles(files) });
          }
          log.insert(b.segment);
          if (log.firstWritten === 0) log.firstWritten = b.segment.first;
          if (b.segment.back) this.markDirty(b.segment);
        }
      }
      for (const o of s.ops) if (!(o as PendingPut).cancelled) batch.push(o);
      out.push({ batch, sync: fsync && s.sync });
    }
    if (this.dirty.length > 0) {
      let last = out[out.length - 1];
      if (!last || !('batch' in last)) out.push((last = { batch: [], sync: false }));
      for (const seg of this.dirty) {
        seg.dirty = false;
        if (seg.gone) continue;
        if (seg.live === 0) {
          // Every message acked: the segment goes, with its state.
          last.batch.push({ type: 'del', key: seg.key });
          if (seg.stateStored) last.batch.push({ type: 'del', key: seg.stateKey });
          if (seg.files) {
            last.batch.push({ type: 'del', key: seg.bodiesKey });
            this.released.push(...seg.files);
          }
          seg.gone = true;
          seg.log.remove(seg);
        } else {
          last.batch.push({ type: 'put', key: seg.stateKey, value: seg.encodeState() });
          seg.stateStored = true;
          // Less of its files may be live now: compaction counts them again.
          if (seg.files) for (const f of seg.files) this.bodies.touch(f);
        }
      }
      this.dirty = [];
    }
    if (this.rewrites.length > 0) {
      // Last: a segment deleted (all acked) or trimmed away in this cycle is gone, and left so.
      let last = out[out.length - 1];
      if (!last || !('batch' in last)) out.push((last = { batch: [], sync: false }));
      for (const r of this.rewrites) this.applyRewrite(r, last.batch);
      // Synced before the old files may go: they are released once this cycle is written.
      last.sync = fsync;
      this.rewrites = [];
      this.bodiesMoved++;
    }
    if (this.deliveredLogs.length > 0) {
      // Last too: every message at or below a mark was put in this cycle's batches or before.
      let last = out[out.length - 1];
      if (!last || !('batch' in last)) out.push((last = { batch: [], sync: false }));
      for (const log of this.deliveredLogs) {
        log.deliveredDirty = false;
        if (log.deleted || !log.deliveredKey) continue;
        const v = Buffer.allocUnsafe(8);
        v.writeBigUInt64BE(BigInt(log.delivered));
        last.batch.push({ type: 'put', key: log.deliveredKey, value: v });
      }
      this.deliveredLogs = [];
    }
    this.refs.clear();
    return out;
  }

  /** A compaction's rewrite of a segment, into batch (its copies are in this cycle's body writes). */
  private applyRewrite(r: SegmentRewrite, batch: Op[]): void {
    const seg = r.seg;
    const before = seg.files ?? [];
    if (seg.gone || seg.log.deleted) {
      // Nothing refers to the copies: a file holding only such goes as its last segment would.
      for (const f of r.files) {
        if (before.includes(f)) continue;
        this.bodies.ref(f);
        this.released.push(f);
      }
      return;
    }
    if (r.value) batch.push({ type: 'put', key: seg.key, value: r.value });
    for (const f of r.files) if (!before.includes(f)) this.bodies.ref(f);
    for (const f of before) if (!r.files.includes(f)) this.released.push(f);
    if (r.files.length > 0) {
      batch.push({ type: 'put', key: seg.bodiesKey, value: encodeFiles(r.files) });
      seg.files = r.files;
    } else {
      batch.push({ type: 'del', key: seg.bodiesKey });
      seg.files = null;
    }
  }

  /**
   * Moves the live bodies out of body files mostly acked (body-compaction.ts); runs on a timer
   * (bodyCompactionMs), or now. One pass at a time: a call during one waits for it.
   */
  compactBodies(): Promise<CompactionEvent[]> {
    if (this.compacting) return this.compacting;
    if (this.closing) return Promise.resolve([]);
    const p = compactBodyFiles(this.compactionHost(), this.options.onCompaction);
    this.compacting = p;
    const clear = (): void => {
      if (this.compacting === p) this.compacting = null;
    };
    p.then(clear, clear);
    return p;
  }

  /** What a compaction pass may do with the store. */
  private compactionHost(): CompactionHost {
    return {
      bodies: this.bodies,
      stopping: () => this.closing,
      settle: () => this.flush(),
      segmentsNaming: (no) => this.segmentsNaming(no),
      rewrite: (rewrites) => {
        this.rewrites.push(...rewrites);
        this.opsStep().sync = true;
        return this.flushLevel();
      },
    };
  }

  /**
   * Every segment naming body file no, with its value: those known in this run, and those of an
   * earlier run not read yet (known from now on, with the state their record left).
   */
  private async segmentsNaming(no: number): Promise<NamingSegment[]> {
    await this.applies.settled();
    const out: NamingSegment[] = [];
    const known: Segment[] = [];
    for (const log of this.logs.values()) {
      if (log.deleted) continue;
      for (const seg of log.segs) if (!seg.gone && seg.files?.includes(no)) known.push(seg);
    }
    for (const seg of known) {
      const value = await this.db.get(seg.key);
      if (value && !seg.gone) out.push({ seg, value });
    }
    const unread: [string, number][] = [];
    for (const [prefix, firsts] of this.loadedBodies) for (const [first, files] of firsts) if (files.includes(no)) unread.push([prefix, first]);
    for (const [prefix, first] of unread) {
      const log = this.logOfBodies(prefix);
      const value = await this.db.get(messageKey(log.prefix, first));
      if (!value || log.deleted) continue;
      const view = new SegmentView(value);
      const seg = view.count > 0 ? this.known(log, view) : null;
      if (seg && !seg.gone && seg.files?.includes(no) && !out.some((n) => n.seg === seg)) out.push({ seg, value });
    }
    return out;
  }

  /** The queue whose body-file records ('X' 0 vhost 0 name 0) start with prefix (latin1). */
  private logOfBodies(prefix: string): QueueLog {
    // The prefix is the queue's key (vhost 0 name) in UTF-8 between the letter's separator and the last one.
    const k = Buffer.from(prefix, 'latin1').toString('utf8', 2, prefix.length - 1);
    const sep = k.indexOf('\0');
    return this.logOf(k.slice(0, sep), k.slice(sep + 1));
  }

  /**
   * Gives each large body of the list a place in a body file (once per message, however many
   * queues it went to in this cycle); the files it used, or null when all bodies are small.
   */
  private appendBodies(p: Pending): number[] | null {
    let files: number[] | null = null;
    for (const m of p.msgs) {
      if (!m || bodyLength(m.body) < BODY_FILE_MIN) continue;
      let ref = this.refs.get(m);
      if (!ref) this.refs.set(m, (ref = this.bodies.append(m.body)));
      if (!files) files = [ref.file];
      else if (!files.includes(ref.file)) files.push(ref.file);
    }
    return files;
  }

  /**
   * A write cycle's batch. With the journal, a record of it goes there (synced if sync), and the
   * batch is done when the record is; LevelDB takes it without sync, behind it. A large batch goes
   * to LevelDB alone, synced if sync, once no record is older than it (a replay must never write
   * an older batch over it) and LevelDB has applied every earlier one.
   */
  private async writeBatch(ops: Op[], sync: boolean): Promise<void> {
    const journal = this.journal;
    if (!journal) return this.batchNow(ops, sync);
    const record: JournalRecord = journal.batchRecord(ops);
    if (!journal.takes(record)) {
      await journal.clearForDirect();
      await this.applies.settled();
      return this.batchNow(ops, sync);
    }
    // Done once the record is: LevelDB applies the batch behind it (level-applies.ts). The record's
    // write is handed to the thread pool first, since the confirms wait for it alone.
    const written = journal.write(record, sync);
    this.applies.push(ops, record.bytes);
    await written;
    journal.maybeCheckpoint();
    // LevelDB far behind (its compactions): the cycle waits for it, as before (level-applies.ts).
    if (this.applies.behind > journal.size / 4) await this.applies.settled();
  }

  /** A range deletion, recorded in the journal first when batches go there (a replay deletes it again). */
  private async clearNow(gte: Buffer, lt: Buffer): Promise<void> {
    const journal = this.journal;
    if (journal?.bypassed) await journal.clearForDirect();
    else if (journal) await journal.write(journal.clearRecord(gte, lt), false);
    await this.applies.settled();
    await this.db.clear({ gte, lt });
    journal?.maybeCheckpoint();
  }

  private batchNow(ops: Op[], sync: boolean): Promise<void> {
    const own = this.db as unknown as Partial<OwnBatch>;
    if (this.db.status === 'open' && typeof own._batch === 'function') return own._batch(ops, { sync });
    return this.db.batch(ops, { sync });
  }

  private writeSteps(): void {
    const jobs = this.build(this.steps);
    const released = this.released;
    this.released = [];
    const done = this.next ?? deferred();
    this.hurried = false;
    this.soon = false;
    // A hold for acks that saw fewer of its bodies acked than it now writes did not pay: consumers
    // that ack later than the hold (or in batches larger than publishers' windows) only made
    // confirms late. Ordinary writes for a while, then another try.
    if (this.holdingForAcks && this.ackCancelledBytes < this.consumedBytes) {
      this.ackHoldOffUntil = perf.now() + ACK_HOLD_RETRY_MS;
    }
    this.ackCancelledBytes = 0;
    this.holdLength = 0;
    // Every pending put goes in this cycle.
    this.forConsumers.clear();
    this.consumedBytes = 0;
    this.steps = [];
    // (Not kept past the cycle that took them: they hold its messages.)
    this.lastPutStep = null;
    this.lastPut = undefined;
    this.pendingPuts = new Map();
    this.next = null;
    this.writingBytes = this.queuedBytes;
    this.queuedBytes = 0;
    this.inflight = (async () => {
      const t0 = process.hrtime.bigint();
      // Bodies first, synced: the batches after point at them.
      if (this.bodies.hasPending) await this.bodies.writePending(this.options.fsync !== false);
      for (const j of jobs) {
        // The array form: few operations per batch now that messages go by segment, and LevelDB
        // frees its copy of the batch when the write is done (a chained batch's lives until GC).
        if ('batch' in j) {
          if (j.batch.length > 0) await this.writeBatch(j.batch, j.sync);
        } else if ('clear' in j) await this.clearNow(j.clear.gte, j.clear.lt);
        else if ('trim' in j) await this.runTrim(j.trim.log, j.trim.from, j.trim.below, j.trim.generation);
      }
      this.onWrite?.(Number(process.hrtime.bigint() - t0) / 1e9);
      if (released.length > 0) this.bodies.release(released);
    })().then(done.resolve, done.reject);
    this.inflight = done.promise.finally(() => {
      this.inflight = null;
      this.writingBytes = 0;
      // The next cycle is scheduled a tick later: the confirms this write settled (their
      // ConfirmTracker sends them on the next tick) then reach the socket before the next cycle
      // encodes its segments, and publishers waiting for them send on while it does.
      if (this.steps.length > 0 || this.statesChanged || this.released.length > 0) process.nextTick(this.scheduleNext);
    });
    this.inflight.catch(() => {});
  }
}
