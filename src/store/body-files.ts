// Where the bodies of large persistent messages go: append-only files in the data directory's
// bodies/, shared by every queue, rolled over every FILE_MAX bytes. The message's record in its
// LevelDB segment keeps its properties and names, and, instead of the body, where the body lies.
//
// Why: as part of a LevelDB value a 1 MiB body was copied into the write batch on the main thread
// (a fifth of its time under a 1 MiB flood), then written to LevelDB's log, again to a table file
// when the memtable (4 MiB) flushed, and again by each compaction: the disk wrote it several times
// and the CPU checksummed it each time. Here it is written once, by reference (one writev per
// write cycle for every body of the cycle), synced before the LevelDB batch that points at it, and
// freed by deleting its file once no segment refers to it.
//
// Which segments refer to which files is kept in LevelDB too ('X' records beside the segments, see
// level-store.ts), so a restart knows, without reading the segments, which files are still needed:
// the others are deleted at open. A file is deleted only after the batch that deleted its last
// segment was written. A file mostly acked has its live bodies moved out (body-compaction.ts).
import { Buffer } from 'node:buffer';
import { close, closeSync, existsSync, fdatasync, mkdirSync, openSync, read, readdirSync, statSync, unlink, unlinkSync, writev } from 'node:fs';
import { join } from 'node:path';
import { bodyLength, pushBody, type Body } from '../frames/body.js';

/** Bodies at least this big go to a body file; smaller ones stay in their segment. */
export const BODY_FILE_MIN = 16 * 1024;
/** A file rolls over past this many bytes (a long-lived message keeps its file alive until compaction moves its body: body-compaction.ts). */
const FILE_MAX = 64 * 1024 * 1024;

/** Where a body lies: its file's number, its offset in the file and its length. */
export interface BodyRef {
  file: number;
  offset: number;
  length: number;
}

interface BodyFile {
  no: number;
  /** -1 until opened (a file of an earlier run is opened on its first read). */
  fd: number;
  /** Bytes assigned (appends go here; written by the next writePending). */
  size: number;
  /** Segments that refer to it. */
  refs: number;
  /** Reads in flight: its fd stays open until they are done. */
  readers: number;
  /**
   * A segment referring to it changed (acks, a trim) since compaction last counted what is live
   * in it (body-compaction.ts): only such files are counted again. True for an earlier run's.
   */
  touched: boolean;
  /** What compaction found live in it when it last counted (-1: never counted). */
  counted: number;
  /** Bodies appended and not yet handed to the file, and where the first of them goes. */
  pending: Buffer[];
  pendingAt: number;
}

const writevAsync = (fd: number, bufs: Buffer[], pos: number): Promise<void> =>
  new Promise((resolve, reject) => writev(fd, bufs, pos, (err) => (err ? reject(err) : resolve())));
const syncAsync = (fd: number): Promise<void> => new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
const readAsync = (fd: number, buf: Buffer, pos: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))));

const closeQuietly = (fd: number): void => close(fd, () => {});
const fileName = (no: number): string => `${String(no).padStart(8, '0')}.bodies`;

export class BodyFiles {
  private readonly files = new Map<number, BodyFile>();
  private current: BodyFile | null = null;
  private nextNo = 1;
  private readonly dir: string;

  constructor(
    dataDir: string,
    /** Bytes after which a file rolls over (FILE_MAX; smaller in tests). */
    private readonly fileMax = FILE_MAX,
  ) {
    this.dir = join(dataDir, 'bodies');
  }

  /** Whether file no exists (a record pointing into a missing file was acked, see LevelStore.open). */
  exists(no: number): boolean {
    return existsSync(join(this.dir, fileName(no)));
  }

  /**
   * Takes over the files of an earlier run: refs counts, per file, the segments still referring to
   * it; a file no segment refers to is deleted (its messages were acked, or it was written just
   * before a crash and no batch ever pointed at it). New bodies go to a new file.
   */
  open(refs: Map<number, number>): void {
    mkdirSync(this.dir, { recursive: true });
    for (const name of readdirSync(this.dir)) {
      const m = /^(\d+)\.bodies$/.exec(name);
      if (!m) continue;
      const no = Number(m[1]);
      if (no >= this.nextNo) this.nextNo = no + 1;
      const n = refs.get(no) ?? 0;
      if (n === 0) unlinkSync(join(this.dir, name));
      else this.files.set(no, { no, fd: -1, size: statSync(join(this.dir, name)).size, refs: n, readers: 0, touched: true, counted: -1, pending: [], pendingAt: 0 });
    }
  }

  /** Assigns body a place in the current file; it is written by the next writePending. */
  append(body: Body): BodyRef {
    const length = bodyLength(body);
    let f = this.current;
    if (!f || (f.size > 0 && f.size + length > this.fileMax)) f = this.roll();
    if (f.pending.length === 0) f.pendingAt = f.size;
    pushBody(f.pending, body);
    const ref = { file: f.no, offset: f.size, length };
    f.size += length;
    return ref;
  }

  private roll(): BodyFile {
    const old = this.current;
    const no = this.nextNo++;
    const f: BodyFile = { no, fd: openSync(join(this.dir, fileName(no)), 'w+'), size: 0, refs: 0, readers: 0, touched: false, counted: -1, pending: [], pendingAt: 0 };
    this.files.set(no, f);
    this.current = f;
    // The old file is no longer appended to: it goes once nothing refers to it (maybe already so).
    if (old && old.refs === 0 && old.pending.length === 0) this.remove(old);
    return f;
  }

  get hasPending(): boolean {
    for (const f of this.files.values()) if (f.pending.length > 0) return true;
    return false;
  }

  /**
   * Writes every body appended so far, one writev per file, and syncs them when sync is set: the
   * LevelDB batch that points at them is written after this resolves.
   */
  async writePending(sync: boolean): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const f of this.files.values()) {
      if (f.pending.length === 0) continue;
      const bufs = f.pending;
      const at = f.pendingAt;
      f.pending = [];
      writes.push(writevAsync(f.fd, bufs, at).then(() => (sync ? syncAsync(f.fd) : undefined)));
    }
    await Promise.all(writes);
  }

  /** A segment now refers to file no. */
  ref(no: number): void {
    const f = this.files.get(no);
    if (f) f.refs++;
  }

  /** A segment referring to file no changed its state (acks): what is live in it may have shrunk. */
  touch(no: number): void {
    const f = this.files.get(no);
    if (f) f.touched = true;
  }

  /**
   * Files compaction should count again (body-compaction.ts): no longer appended to, still
   * referred to, touched since last counted; oldest first. Each is marked counted.
   */
  toCount(): { no: number; size: number }[] {
    const out: { no: number; size: number }[] = [];
    for (const f of this.files.values()) {
      if (f === this.current || !f.touched || f.refs <= 0 || f.pending.length > 0) continue;
      f.touched = false;
      out.push({ no: f.no, size: f.size });
    }
    return out.sort((a, b) => a.no - b.no);
  }

  /**
   * Records live, what a count found live in file no; whether it is what the count before found:
   * no ack has reached the file since (a file being drained is left to its consumers). A file
   * not steady yet is counted again in the next pass.
   */
  steady(no: number, live: number): boolean {
    const f = this.files.get(no);
    if (!f) return false;
    const same = f.counted === live;
    f.counted = live;
    if (!same) f.touched = true;
    return same;
  }

  /** Bytes after which a file rolls over. */
  get rollAt(): number {
    return this.fileMax;
  }

  /**
   * Segments that referred to these files are gone from the store (the batch deleting them was
   * written): a file no segment refers to any more, and not appended to, is deleted.
   */
  release(nos: number[]): void {
    for (const no of nos) {
      const f = this.files.get(no);
      if (!f) continue;
      f.refs--;
      if (f.refs <= 0 && f !== this.current && f.pending.length === 0) this.remove(f);
      else f.touched = true; // what is live in it may have gone with that segment
    }
  }

  /**
   * Off the main thread: closing the last fd of an unlinked 64 MiB file frees its blocks there and
   * then, which took a twentieth of the main thread under a 1 MiB flood when done synchronously.
   */
  private remove(f: BodyFile): void {
    this.files.delete(f.no);
    unlink(join(this.dir, fileName(f.no)), () => {
      // Already gone, or not: nothing refers to it any more either way (open() retries).
    });
    // A read in flight keeps reading the unlinked file through its fd; the last one closes it.
    if (f.fd >= 0 && f.readers === 0) closeQuietly(f.fd);
  }

  /**
   * The body at ref (written: LevelStore reads only after a flush); null when its file is gone:
   * every segment referring to it was deleted (acked, purged, past a stream's retention) after the
   * segment was read and before its body was.
   */
  async read(ref: BodyRef): Promise<Buffer | null> {
    const f = this.files.get(ref.file);
    if (!f) return null;
    if (f.fd < 0) f.fd = openSync(join(this.dir, fileName(f.no)), 'r');
    const buf = Buffer.allocUnsafe(ref.length);
    f.readers++;
    try {
      let got = 0;
      while (got < ref.length) {
        const n = await readAsync(f.fd, got === 0 ? buf : buf.subarray(got), ref.offset + got);
        if (n === 0) throw new Error(`body file ${fileName(ref.file)} ends before ${ref.offset + ref.length}`);
        got += n;
      }
    } finally {
      f.readers--;
      if (f.readers === 0 && !this.files.has(f.no) && f.fd >= 0) closeQuietly(f.fd);
    }
    return buf;
  }

  close(): void {
    for (const f of this.files.values()) if (f.fd >= 0 && f.readers === 0) closeSync(f.fd);
    this.files.clear();
    this.current = null;
  }
}
