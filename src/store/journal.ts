// The write-ahead journal in front of LevelDB (level-store.ts): what makes a confirm mean "on disk"
// cheaply. A LevelDB batch written with sync appends to LevelDB's log and fdatasyncs it; a sync
// of a file that grew must also commit the file's new size to the filesystem's journal, and on this
// kind of disk that doubles the sync (0.42-0.64 ms against 0.24-0.26 ms for a write into a file
// whose blocks are written already: `node` microbench, 4-20 KB a write, see README "The journal").
// So each write cycle's batch goes to LevelDB without sync and, at the same time, as one record
// into this file, which is written full of zeros once and then reused in a circle, with O_DSYNC.
// The cycle counts as written (confirms go out) once the record is; LevelDB applies the batch
// behind it, and what reads LevelDB waits for that (level-applies.ts). Large batches, whose bytes
// cost more written twice than the shorter sync saves, bypass it (takes(), clearForDirect()).
//
// What LevelDB holds is made durable by checkpoints: every LevelDB log file is fdatasynced, then
// the journal's header says from which record a replay must start. After a crash, open() replays
// the records from there, in order, onto LevelDB. Every mutation of the store after the checkpoint
// is one of those records, so a replay over a LevelDB that kept them all (a process crash: its
// writes were in the page cache) writes each key back to the value it ended with, and over one
// that lost some (a power cut) writes what was lost.
//
// Layout: two checkpoint slots (pages 0 and 1, written in turn, the newest valid one counts), then
// records, each starting on a 4 KiB boundary, wrapping to the first record page at the end:
//   record header: magic u32, epoch u32, seq u48, kind u8, 0 u8, payload length u32, crc32 u32
//     (of the header's first 20 bytes and the payload)
//   batch payload: count u32, count × (type u8, key length u32, value length u32), then each key
//     and value in order; clear payload: the same with two entries, gte and lt.
// A record is the next one only with the journal's epoch (new at every open) and the next seq, so
// whatever a record overwrote, or an earlier run left, is never taken for one.
import { Buffer } from 'node:buffer';
import * as fs from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';

export type JournalOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };
/** What a record holds: one LevelDB batch, or one range deletion (which a batch cannot express). */
export type JournalEntry = { kind: 'batch'; ops: JournalOp[] } | { kind: 'clear'; gte: Buffer; lt: Buffer };

export const JOURNAL_FILE = 'journal';
/**
 * 32 MiB: a lap at goperf's publish-only rate (~40 MB/s of records) is ~0.8 s, with a checkpoint
 * per half lap; a replay reads at most this; a batch up to half of it can be a record (larger ones
 * bypass it, as do batches while they average past RECORD_MAX). Written once when made (~70 ms).
 */
export const JOURNAL_SIZE = 32 << 20;
/** Offsets are 32-bit in the checkpoint slots. */
export const MAX_JOURNAL_SIZE = 2 ** 31;

const PAGE = 4096;
const DATA_START = 2 * PAGE;
const RECORD_MAGIC = 0x4e524a57; // 'WJRN'
const SLOT_MAGIC = 0x50434a57; // 'WJCP'
const HEADER = 24;
const SLOT = 28;
const KIND_BATCH = 0;
const KIND_CLEAR = 1;
const OP_PUT = 0;
const OP_DEL = 1;
/**
 * While batches average past 256 KiB they go to LevelDB alone, synced there: the sync they save
 * (~0.25 ms) is worth less than writing their bytes twice (4 KiB bodies with a consumer: 12-17%
 * slower through the journal).
 */
const RECORD_MAX = 256 * 1024;
/** Past this many pieces a record is one buffer: libuv splits a writev at IOV_MAX, one sync each. */
const MAX_PARTS = 512;

const crc32: (data: Uint8Array, value?: number) => number =
  typeof zlib.crc32 === 'function' ? zlib.crc32 : crc32Js;

let crcTable: Int32Array | null = null;
/** zlib.crc32 is Node 20.15's; the same CRC for an older 20. */
function crc32Js(data: Uint8Array, value = 0): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const align = (n: number): number => Math.ceil(n / PAGE) * PAGE;

/** A record ready to write: its pieces, their length, and its length on disk (aligned). */
export interface JournalRecord {
  parts: Buffer[];
  bytes: number;
  span: number;
}

/**
 * fdatasyncs every LevelDB log file in dir: what LevelDB was handed without sync is on disk after.
 * (LevelDB's own sync covers only the log it writes now, not one it just rolled over from.)
 */
export async function syncLevelLogs(dir: string): Promise<void> {
  const names = (await fs.promises.readdir(dir)).filter((n) => /^\d+\.log$/.test(n));
  for (const n of names) {
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(join(dir, n), 'r');
    } catch (e) {
      // Rolled over and compacted into a table since the listing: that table was synced.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
}

function writevAt(fd: number, parts: Buffer[], at: number): Promise<void> {
  return new Promise((resolve, reject) => fs.writev(fd, parts, at, (e) => (e ? reject(e) : resolve())));
}
function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

interface Slot {
  generation: number;
  epoch: number;
  seq: number;
  offset: number;
}

/** `length` bytes of the journal at `at`, or null past its end. */
type Read = (at: number, length: number) => Buffer | null;

const bufferRead =
  (file: Buffer): Read =>
  (at, length) =>
    at + length > file.length ? null : file.subarray(at, at + length);

function readSlot(read: Read, at: number): Slot | null {
  const b = read(at, SLOT);
  if (!b || b.readUInt32LE(0) !== SLOT_MAGIC) return null;
  if (crc32(b.subarray(0, 24)) !== b.readUInt32LE(24)) return null;
  return { generation: b.readUInt32LE(4), epoch: b.readUInt32LE(8), seq: b.readUIntLE(12, 6), offset: b.readUInt32LE(18) };
}

/** The record at `at` if it is the one expected (epoch, seq, intact), else null. */
function readRecord(read: Read, at: number, epoch: number, seq: number): { entry: JournalEntry; span: number } | null {
  const head = read(at, HEADER);
  if (!head || head.readUInt32LE(0) !== RECORD_MAGIC) return null;
  if (head.readUInt32LE(4) !== epoch || head.readUIntLE(8, 6) !== seq) return null;
  const length = head.readUInt32LE(16);
  const payload = read(at + HEADER, length);
  if (!payload || crc32(payload, crc32(head.subarray(0, 20))) !== head.readUInt32LE(20)) return null;
  const count = payload.readUInt32LE(0);
  let table = 4;
  let data = 4 + 9 * count;
  const ops: JournalOp[] = [];
  for (let i = 0; i < count; i++) {
    const type = payload[table]!;
    const kl = payload.readUInt32LE(table + 1);
    const vl = payload.readUInt32LE(table + 5);
    table += 9;
    const key = payload.subarray(data, data + kl);
    data += kl;
    if (type === OP_PUT) ops.push({ type: 'put', key, value: payload.subarray(data, data + vl) });
    else ops.push({ type: 'del', key });
    data += vl;
  }
  const entry: JournalEntry = head[14] === KIND_CLEAR ? { kind: 'clear', gte: ops[0]!.key, lt: ops[1]!.key } : { kind: 'batch', ops };
  return { entry, span: align(HEADER + length) };
}

/** The records a replay must apply, in order, from the newest checkpoint, read one at a time. */
function* entries(read: Read): Generator<JournalEntry> {
  const a = readSlot(read, 0);
  const b = readSlot(read, PAGE);
  const slot = a && b ? (a.generation >= b.generation ? a : b) : (a ?? b);
  if (!slot) return;
  let at = slot.offset;
  let seq = slot.seq;
  for (;;) {
    // A record that did not fit before the end went to the first record page.
    const r = readRecord(read, at, slot.epoch, seq) ?? (at !== DATA_START ? readRecord(read, (at = DATA_START), slot.epoch, seq) : null);
    if (!r) return;
    yield r.entry;
    at += r.span;
    seq++;
  }
}

/** What a replay of these journal bytes would apply (tests). */
export function recordsToReplay(file: Buffer): JournalEntry[] {
  return [...entries(bufferRead(file))];
}

/**
 * The records a replay of dir's journal must apply, read from the file one at a time (a journal
 * may be large), or null when there is no journal.
 */
export function replayEntries(dir: string): Iterable<JournalEntry> | null {
  let fd: number;
  try {
    fd = fs.openSync(join(dir, JOURNAL_FILE), 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const size = fs.fstatSync(fd).size;
  const read: Read = (at, length) => {
    if (at + length > size) return null;
    const b = Buffer.allocUnsafe(length);
    fs.readSync(fd, b, 0, length, at);
    return b;
  };
  return (function* () {
    try {
      yield* entries(read);
    } finally {
      fs.closeSync(fd);
    }
  })();
}

/**
 * The journal file of a store, open for writing: records go at head; [tail, head) holds the records
 * written since the last checkpoint, which a replay would need.
 */
export class Journal {
  private epoch = 0;
  private generation = 0;
  private seq = 1;
  private head = DATA_START;
  /** The oldest record a replay would start from, and its seq: head/seq when there is none. */
  private tail = DATA_START;
  private tailSeq = 1;
  /** An unsynced record was written since the last sync: the next synced one fdatasyncs the file. */
  private dirty = false;
  private checkpointing: Promise<void> | null = null;
  private readonly capacity: number;
  /** The recent batches' size (bytes, a moving average), and whether they bypass the journal now. */
  private averageBytes = 0;
  private direct = false;

  private constructor(
    private readonly fd: number,
    private readonly dsyncFd: number,
    /** Bytes of the file, header slots included. */
    readonly size: number,
    private readonly syncStore: () => Promise<void>,
  ) {
    this.capacity = size - DATA_START;
  }

  /**
   * Opens (making, if need be) the journal file in dir at `size` bytes, every byte written, after
   * the caller replayed what it held (replayEntries); syncStore makes durable all
   * the store was handed so far. A new epoch begins with a checkpoint at the first record page.
   */
  static async open(dir: string, size: number, syncStore: () => Promise<void>): Promise<Journal> {
    size = Math.min(Math.max(align(size), DATA_START + 4 * PAGE), MAX_JOURNAL_SIZE);
    const path = join(dir, JOURNAL_FILE);
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      const have = fs.fstatSync(fd).size;
      if (have > size) fs.ftruncateSync(fd, size);
      if (have < size) {
        // Written, not just allocated: a sync of a write into blocks that hold data already does
        // not have to commit an allocation to the filesystem's journal.
        const zeros = Buffer.alloc(Math.min(1 << 20, size));
        for (let at = have; at < size; at += zeros.length) fs.writeSync(fd, zeros, 0, Math.min(zeros.length, size - at), at);
        fs.fdatasyncSync(fd);
        syncDir(dir);
      }
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    // Windows has no O_DSYNC: there every synced write is a write and an fdatasync (dsyncFd -1).
    const dsync = fs.constants.O_DSYNC as number | undefined;
    const dsyncFd = dsync === undefined ? -1 : fs.openSync(path, fs.constants.O_RDWR | dsync);
    const j = new Journal(fd, dsyncFd, size, syncStore);
    const file = Buffer.alloc(2 * PAGE);
    fs.readSync(fd, file, 0, file.length, 0);
    const read = bufferRead(file);
    let generation = 0;
    let seq = 0;
    for (const at of [0, PAGE]) {
      const slot = readSlot(read, at);
      generation = Math.max(generation, slot?.generation ?? 0);
      seq = Math.max(seq, slot?.seq ?? 0);
    }
    j.generation = generation;
    // Past every seq the file may hold (at most a record a page after its newest checkpoint): with
    // the new epoch, two things no earlier record can match.
    j.seq = j.tailSeq = seq + size / PAGE + 1;
    let epoch = (Math.random() * 0x100000000) >>> 0;
    for (const at of [0, PAGE]) if (readSlot(read, at)?.epoch === epoch) epoch = (epoch + 1) >>> 0;
    j.epoch = epoch;
    try {
      // What the caller replayed is durable before the new epoch makes those records history.
      await syncStore();
      await j.writeSlot(j.seq, DATA_START);
    } catch (e) {
      j.abandon();
      throw e;
    }
    return j;
  }

  static exists(dir: string): boolean {
    return fs.existsSync(join(dir, JOURNAL_FILE));
  }

  static remove(dir: string): void {
    fs.rmSync(join(dir, JOURNAL_FILE), { force: true });
  }

  /** A batch as a record (its keys and values by reference). */
  batchRecord(ops: readonly JournalOp[]): JournalRecord {
    return this.record(KIND_BATCH, ops);
  }

  clearRecord(gte: Buffer, lt: Buffer): JournalRecord {
    return this.record(KIND_CLEAR, [
      { type: 'del', key: gte },
      { type: 'del', key: lt },
    ]);
  }

  private record(kind: number, ops: readonly JournalOp[]): JournalRecord {
    const head = Buffer.allocUnsafe(HEADER + 4 + 9 * ops.length);
    head.writeUInt32LE(RECORD_MAGIC, 0);
    head.writeUInt32LE(this.epoch, 4);
    head[14] = kind;
    head[15] = 0;
    head.writeUInt32LE(ops.length, HEADER);
    const parts: Buffer[] = [head];
    let payload = 4 + 9 * ops.length;
    let t = HEADER + 4;
    for (const o of ops) {
      const vl = o.type === 'put' ? o.value.length : 0;
      head[t] = o.type === 'put' ? OP_PUT : OP_DEL;
      head.writeUInt32LE(o.key.length, t + 1);
      head.writeUInt32LE(vl, t + 5);
      t += 9;
      parts.push(o.key);
      payload += o.key.length;
      if (o.type === 'put') {
        parts.push(o.value);
        payload += vl;
      }
    }
    head.writeUInt32LE(payload, 16);
    const bytes = HEADER + payload;
    return { parts: parts.length > MAX_PARTS ? [Buffer.concat(parts, bytes)] : parts, bytes, span: align(bytes) };
  }

  /**
   * Whether r should be a record: a batch too large for half the journal, or past RECORD_MAX, goes
   * to LevelDB alone, synced there (see clearForDirect).
   */
  takes(r: JournalRecord): boolean {
    // By the recent batches' size, with hysteresis: each switch to LevelDB's own syncs costs a
    // checkpoint (1 KiB bodies near the bound, switching on each batch: 0.6× the rate).
    this.averageBytes += (r.bytes - this.averageBytes) / 8;
    if (this.direct ? this.averageBytes < RECORD_MAX / 2 : this.averageBytes > RECORD_MAX) this.direct = !this.direct;
    return !this.direct && r.span <= this.capacity / 2;
  }

  /** Batches go to LevelDB alone for now (takes()): a range deletion does too. */
  get bypassed(): boolean {
    return this.direct;
  }

  /**
   * Before a batch goes to LevelDB without a record: no record a replay would apply may be older
   * than it, or the replay would write it over the batch. A checkpoint, unless there is no record
   * since the last one (as in a run of large batches: only the first pays).
   */
  async clearForDirect(): Promise<void> {
    if (this.checkpointing) await this.checkpointing.catch(() => {});
    if (this.seq !== this.tailSeq) await this.checkpoint();
  }

  /** Where a record of span bytes would go now, or -1 if the records since the last checkpoint are in the way. */
  private placeFor(span: number): number {
    const at = this.head + span <= this.size ? this.head : DATA_START;
    if (this.seq === this.tailSeq) return at;
    // Live records lie in [tail, head): room after head, or from the start up to tail.
    if (this.head > this.tail) return at === this.head || DATA_START + span <= this.tail ? at : -1;
    // Wrapped, live in [tail, end) and [start, head); or full (head back at tail).
    return this.head < this.tail && at === this.head && this.head + span <= this.tail ? at : -1;
  }

  /** Bytes of the records since the last checkpoint (with what a wrap skipped). */
  private used(): number {
    if (this.seq === this.tailSeq) return 0;
    return this.head > this.tail ? this.head - this.tail : this.size - this.tail + (this.head - DATA_START);
  }

  /**
   * Writes r as the next record; with sync, resolves once it (and every record before it) is on
   * disk. Waits for a checkpoint first when the records since the last one leave no room.
   */
  async write(r: JournalRecord, sync: boolean): Promise<void> {
    let at = this.placeFor(r.span);
    while (at < 0) {
      await (this.checkpointing ?? this.checkpoint());
      at = this.placeFor(r.span);
    }
    const head = r.parts[0]!;
    const seq = this.seq++;
    // With more than one part the header is the first part's bytes; one concatenated part has it too.
    head.writeUIntLE(seq, 8, 6);
    let crc = crc32(head.subarray(0, 20));
    if (r.parts.length === 1) crc = crc32(head.subarray(HEADER, r.bytes), crc);
    else {
      crc = crc32(head.subarray(HEADER), crc);
      for (let i = 1; i < r.parts.length; i++) crc = crc32(r.parts[i]!, crc);
    }
    head.writeUInt32LE(crc, 20);
    this.head = at + r.span;
    if (this.head >= this.size) this.head = DATA_START;
    if (!sync) {
      this.dirty = true;
      return writevAt(this.fd, r.parts, at);
    }
    if (!this.dirty && this.dsyncFd >= 0) return writevAt(this.dsyncFd, r.parts, at);
    // Unsynced records before this one must be on disk with it: a replay stops at the first gap.
    this.dirty = false;
    await writevAt(this.fd, r.parts, at);
    await datasync(this.fd);
  }

  /** Starts a checkpoint when the records since the last one fill half the journal. */
  maybeCheckpoint(): void {
    if (this.checkpointing) return;
    if (this.used() > this.capacity / 2) this.checkpoint().catch(() => {});
  }

  /**
   * Makes every record written so far unneeded: the store's own files are synced (every record's
   * batch was handed to LevelDB before the next record is written), then the header moves past them.
   */
  checkpoint(): Promise<void> {
    if (this.checkpointing) return this.checkpointing.then(() => this.checkpoint());
    const seq = this.seq;
    const offset = this.head;
    const p = (async () => {
      await this.syncStore();
      await this.writeSlot(seq, offset);
      this.tail = offset;
      this.tailSeq = seq;
    })();
    this.checkpointing = p;
    const clear = (): void => {
      if (this.checkpointing === p) this.checkpointing = null;
    };
    p.then(clear, clear);
    return p;
  }

  private writeSlot(seq: number, offset: number): Promise<void> {
    const g = ++this.generation;
    const b = Buffer.alloc(SLOT);
    b.writeUInt32LE(SLOT_MAGIC, 0);
    b.writeUInt32LE(g, 4);
    b.writeUInt32LE(this.epoch, 8);
    b.writeUIntLE(seq, 12, 6);
    b.writeUInt32LE(offset, 18);
    b.writeUInt32LE(crc32(b.subarray(0, 24)), 24);
    const at = g % 2 === 0 ? 0 : PAGE;
    if (this.dsyncFd >= 0) return writevAt(this.dsyncFd, [b], at);
    return writevAt(this.fd, [b], at).then(() => datasync(this.fd));
  }

  /** A last checkpoint (nothing to replay at the next open), then the files close. */
  async close(): Promise<void> {
    try {
      await this.checkpoint();
    } finally {
      fs.closeSync(this.fd);
      if (this.dsyncFd >= 0) fs.closeSync(this.dsyncFd);
    }
  }

  /** Closes without a checkpoint (tests: a crash). */
  abandon(): void {
    fs.closeSync(this.fd);
    if (this.dsyncFd >= 0) fs.closeSync(this.dsyncFd);
  }
}

function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
