// Where a long queue's transient messages go when it pages them out of memory: an append-only file
// of its own (a few, rolled over every FILE_MAX bytes) in the data directory's pages/, instead of
// LevelDB values. A paged transient message is written once and read once, in order; it needs no
// index, no durability (pages/ is emptied at every start) and no compaction. As LevelDB values a
// 1 MiB body was copied into a write batch on the main thread, into LevelDB's log and memtable,
// then into a table file and rewritten by compactions: a flood of 1 MiB bodies paged at 17 msgs/s.
// Here its body goes to the file by reference (one writev per tick for everything paged in it)
// and comes back with one read per page.
//
// Record: headerLength u32, bodyLength u32, header (codec.ts's message record with an empty body),
// body. Files are read from the position of the oldest message not yet taken back; a file is
// deleted once every record in it has been taken back (the last one is simply reset).
import { Buffer } from 'node:buffer';
import { closeSync, mkdirSync, openSync, read, rmSync, unlinkSync, writev } from 'node:fs';
import { join } from 'node:path';
import { bodyLength, joinBody, pushBody } from '../frames/body.js';
import { copyInto, putU32 } from '../frames/primitives.js';
import { NameCache, decodeMessage, messageHeadLength, writeMessageHead } from './codec.js';
import type { Cursor } from './cursors.js';
import type { ReadMessage, StoredMessage } from './store.js';

/** A file rolls over past this many bytes, so that what was read back can be deleted. */
const FILE_MAX = 64 * 1024 * 1024;
/**
 * Records are encoded into buffers of this size, back to back, each handed to the file as one
 * piece: a Buffer per record header and two pieces of a writev per record made a flood of small
 * transient messages spend a tenth of its time collecting garbage.
 */
const APPEND_CHUNK = 64 * 1024;
/** A body up to this size is copied in with its header; a bigger one is written by reference. */
const COPY_BODY_MAX = 4096;
/** Bytes read at once (at least one whole record); a page is read in a few of these. */
const READ_CHUNK = 4 * 1024 * 1024;

interface PageFileEntry {
  fd: number;
  path: string;
  /** Where the file starts in the queue's page space (positions only grow). */
  base: number;
  /** Bytes appended (assigned; written once no write is pending). */
  size: number;
}

const writevAsync = (fd: number, bufs: Buffer[], pos: number): Promise<void> =>
  new Promise((resolve, reject) => writev(fd, bufs, pos, (err) => (err ? reject(err) : resolve())));
const readAsync = (fd: number, buf: Buffer, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, 0, len, pos, (err, n) => (err ? reject(err) : resolve(n))));

/** The pages/ directory of a data directory, emptied: transient messages do not survive a restart. */
export function resetPagesDir(dataDir: string): string {
  const dir = join(dataDir, 'pages');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

let nextFileId = 0;

/** One queue's paged transient messages. */
export class PageFile {
  private files: PageFileEntry[] = [];
  /** Page-space position of the oldest record not taken back, and where the next one goes. */
  private readPos = 0;
  private end = 0;
  /** Page-space position up to which every record is in its file (reads stop there). */
  private writtenEnd = 0;
  /** Records appended in this tick and not handed to the file yet (encoded records, large bodies). */
  private pending: Buffer[] = [];
  /**
   * Where records are encoded: buf[cut, pos) holds those not yet in pending. Only written forward,
   * so the parts already handed to a write are never written over; a new one once it is full.
   */
  private buf: Buffer | null = null;
  private bufPos = 0;
  private bufCut = 0;
  private pendingFile: PageFileEntry | null = null;
  private pendingPos = 0;
  /** Bytes appended and not yet in the file: in pending, and in the write in flight. */
  pendingBytes = 0;
  private unflushed = 0;
  /** The write in flight, if any. */
  private writing: Promise<void> | null = null;
  private scheduled = false;
  /** Records handed out by cursors and not taken back yet: their seq and end, oldest first. */
  private handedOut: { seq: number; end: number }[] = [];
  /** Where handedOut starts: the entries before it are taken. */
  private handedHead = 0;
  /** Bumped when everything is dropped: a cursor of an earlier generation reads nothing more. */
  generation = 0;
  private failed: unknown = null;

  constructor(
    private readonly dir: string,
    /** Bytes after which a file rolls over (FILE_MAX; smaller in tests). */
    private readonly fileMax = FILE_MAX,
  ) {}

  /** Whether records not yet taken back remain. */
  get holds(): boolean {
    return this.end > this.readPos;
  }

  append(m: StoredMessage): void {
    const headLen = messageHeadLength(m);
    const size = bodyLength(m.body);
    const copied = size <= COPY_BODY_MAX;
    const len = 8 + headLen + size;
    let f = this.files[this.files.length - 1];
    if (!f || f.size >= this.fileMax) {
      this.flushPending(); // a batch goes to one file
      const path = join(this.dir, `${process.pid}-${++nextFileId}.page`);
      f = { fd: openSync(path, 'w+'), path, base: this.end, size: 0 };
      this.files.push(f);
    }
    if (!this.hasPending) {
      this.pendingFile = f;
      this.pendingPos = f.size;
    }
    const need = 8 + headLen + (copied ? size : 0);
    let buf = this.buf;
    if (!buf || buf.length - this.bufPos < need) {
      this.cut();
      buf = this.buf = Buffer.allocUnsafe(Math.max(APPEND_CHUNK, need));
      this.bufPos = this.bufCut = 0;
    }
    let p = this.bufPos;
    putU32(buf, p, headLen);
    putU32(buf, p + 4, size);
    p = writeMessageHead(buf, p + 8, m);
    if (copied) {
      p = copyInto(joinBody(m.body), buf, p);
      this.bufPos = p;
    } else {
      this.bufPos = p;
      this.cut();
      pushBody(this.pending, m.body); // by reference: no copy of the body, nor a join of its pieces
    }
    this.pendingBytes += len;
    this.unflushed += len;
    f.size += len;
    this.end += len;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flushPending();
      });
    }
  }

  /** Whether records were appended that are not handed to a write yet. */
  private get hasPending(): boolean {
    return this.pending.length > 0 || this.bufPos > this.bufCut;
  }

  /** Moves the records encoded since the last cut into pending. */
  private cut(): void {
    if (this.bufPos === this.bufCut) return;
    this.pending.push(this.buf!.subarray(this.bufCut, this.bufPos));
    this.bufCut = this.bufPos;
  }

  /** Hands what was appended so far to the file, after the write in flight (one at a time, in order). */
  private flushPending(): void {
    if (!this.hasPending) return;
    this.cut();
    const bufs = this.pending;
    const f = this.pendingFile!;
    const pos = this.pendingPos;
    const bytes = this.unflushed;
    const endPos = this.end; // everything appended so far is in this write
    this.unflushed = 0;
    this.pending = [];
    this.pendingFile = null;
    const prev = this.writing ?? Promise.resolve();
    const w: Promise<void> = prev
      .then(async () => {
        if (f.fd >= 0) await writevAll(f.fd, bufs, pos);
        this.writtenEnd = Math.max(this.writtenEnd, endPos);
      })
      .catch((err: unknown) => {
        this.failed = err;
      })
      .finally(() => {
        this.pendingBytes -= bytes;
        if (this.writing === w) {
          this.writing = null;
          // Idle: the buffer goes, so that a queue that paged once does not hold 64 KiB for good.
          if (!this.hasPending) {
            this.buf = null;
            this.bufPos = this.bufCut = 0;
          }
          this.release();
        }
      });
    this.writing = w;
  }

  /** Resolves (never rejects) once the write in flight is done, or the next one when none is. */
  progress(): Promise<void> {
    if (!this.writing) this.flushPending();
    return this.writing ?? Promise.resolve();
  }

  /** Resolves once everything appended so far is in the file. */
  async flushed(): Promise<void> {
    this.flushPending();
    while (this.writing) await this.writing;
    // A failed write lost its records for good (a full disk): every read says so from then on.
    if (this.failed) throw this.failed;
  }

  /** A cursor over the records not taken back, from fromSeq on (seq order is append order). */
  cursor(fromSeq: number): Cursor {
    return new PageCursor(this, fromSeq);
  }

  /** Reads whole records from pos on: up to maxCount and maxBytes (at least one), as views of one buffer. */
  async readAt(pos: number, maxCount: number, maxBytes: number, generation: number): Promise<{ records: { header: Buffer; body: Buffer; end: number }[]; next: number }> {
    const out: { header: Buffer; body: Buffer; end: number }[] = [];
    // Records appended while waiting are written by a later write: wait for the one at pos.
    for (;;) {
      await this.flushed();
      if (generation !== this.generation) return { records: out, next: pos };
      if (pos < this.writtenEnd || pos >= this.end) break;
      if (!this.writing && !this.hasPending) throw new Error(`page file: nothing written at ${pos} (${this.writtenEnd} of ${this.end})`);
    }
    const f = this.files.find((x) => pos >= x.base && pos < x.base + x.size);
    if (!f) return { records: out, next: pos };
    const fileEnd = Math.min(f.base + f.size, this.writtenEnd);
    let want = Math.min(fileEnd - pos, Math.max(64 * 1024, Math.min(maxBytes, READ_CHUNK)));
    let buf = Buffer.allocUnsafe(want);
    let got = await readAll(f.fd, buf, want, pos - f.base);
    if (got >= 8) {
      const first = 8 + buf.readUInt32BE(0) + buf.readUInt32BE(4);
      if (first > got) {
        // One record bigger than the chunk: read it whole.
        want = first;
        buf = Buffer.allocUnsafe(want);
        got = await readAll(f.fd, buf, want, pos - f.base);
      }
    }
    let p = 0;
    let bytes = 0;
    while (p + 8 <= got) {
      const hl = buf.readUInt32BE(p);
      const bl = buf.readUInt32BE(p + 4);
      const len = 8 + hl + bl;
      if (p + len > got || (out.length > 0 && (bytes + bl > maxBytes || out.length >= maxCount))) break;
      out.push({ header: buf.subarray(p + 8, p + 8 + hl), body: buf.subarray(p + 8 + hl, p + len), end: pos + p + len });
      bytes += bl;
      p += len;
    }
    return { records: out, next: pos + p };
  }

  /** A cursor handed this record out: it is taken back (taken) in handing order. */
  handed(seq: number, end: number): void {
    const h = this.handedOut;
    if (h.length === this.handedHead || h[h.length - 1]!.seq < seq) h.push({ seq, end });
  }

  get start(): number {
    return this.readPos;
  }

  /** The reader holds the message again: the file space before it is done with. */
  taken(seq: number): void {
    const h = this.handedOut;
    let i = this.handedHead;
    while (i < h.length && h[i]!.seq <= seq) i++;
    if (i === this.handedHead) return;
    this.readPos = Math.max(this.readPos, h[i - 1]!.end);
    // Taken one at a time, a page's records were spliced off the front one at a time: quadratic
    // in the page (17% of the broker's time draining a paged queue). The front moves instead, and
    // the list is cut once most of it is taken.
    if (i === h.length) {
      h.length = 0;
      this.handedHead = 0;
    } else if (i > 1024 && i * 2 > h.length) {
      h.splice(0, i);
      this.handedHead = 0;
    } else this.handedHead = i;
    this.release();
  }

  /** Deletes the files wholly read; once everything is read, starts over in a fresh file. */
  private release(): void {
    while (this.files.length > 1 && this.files[0]!.base + this.files[0]!.size <= this.readPos) this.closeFile(this.files.shift()!);
    if (this.readPos === this.end && !this.hasPending && !this.writing && this.files.length > 0) {
      for (const f of this.files) this.closeFile(f);
      this.files = [];
    }
  }

  /** Forgets every record (a purge, the queue's deletion, the store's close). */
  drop(): void {
    this.generation++;
    this.pending = [];
    this.bufCut = this.bufPos;
    this.pendingFile = null;
    this.pendingBytes -= this.unflushed;
    this.unflushed = 0;
    this.handedOut = [];
    this.handedHead = 0;
    this.readPos = this.writtenEnd = this.end;
    const files = this.files;
    this.files = [];
    // A write in flight finishes into a file that is already unlinked; closed after it.
    const close = (): void => {
      for (const f of files) this.closeFile(f);
    };
    if (this.writing) void this.writing.then(close, close);
    else close();
  }

  private closeFile(f: PageFileEntry): void {
    if (f.fd < 0) return;
    try {
      closeSync(f.fd);
    } catch {}
    f.fd = -1;
    try {
      unlinkSync(f.path);
    } catch {}
  }
}

async function writevAll(fd: number, bufs: Buffer[], pos: number): Promise<void> {
  // writev takes at most IOV_MAX (1024) buffers a call on Linux; Node splits nothing for us.
  for (let i = 0; i < bufs.length; i += 1024) {
    const part = bufs.slice(i, i + 1024);
    await writevAsync(fd, part, pos);
    for (const b of part) pos += b.length;
  }
}

async function readAll(fd: number, buf: Buffer, len: number, pos: number): Promise<number> {
  let got = 0;
  while (got < len) {
    const n = await readAsync(fd, got === 0 ? buf : buf.subarray(got), len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** The paged records of one queue, from fromSeq on, a read at a time. */
class PageCursor implements Cursor {
  done = false;
  private records: { header: Buffer; body: Buffer; end: number }[] = [];
  private i = 0;
  private pos: number;
  private readonly generation: number;
  private readonly names = new NameCache();

  constructor(
    private readonly file: PageFile,
    private readonly fromSeq: number,
  ) {
    this.pos = file.start;
    this.generation = file.generation;
  }

  peek(): number {
    while (this.i < this.records.length) {
      const r = this.records[this.i]!;
      const seq = r.header.readUInt32BE(0) * 0x1_0000_0000 + r.header.readUInt32BE(4);
      if (seq >= this.fromSeq) return seq;
      this.i++;
    }
    return -1;
  }

  take(): ReadMessage {
    const r = this.records[this.i++]!;
    const m = decodeMessage(r.header, this.names) as ReadMessage;
    m.body = r.body;
    m.paged = true;
    this.file.handed(m.seq, r.end);
    return m;
  }

  skip(): number {
    return this.records[this.i++]!.body.length;
  }

  async refill(maxCount: number, maxBytes: number): Promise<void> {
    const { records, next } = await this.file.readAt(this.pos, maxCount, maxBytes, this.generation);
    this.records = records;
    this.i = 0;
    this.pos = next;
    this.done = records.length === 0;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
