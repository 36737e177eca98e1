// Compaction of body files (body-files.ts). A body file is deleted once no segment refers to it,
// so one long-lived message (a queue nobody consumes, a message a consumer holds for hours) kept
// its whole 64 MiB file on disk, and a slow queue beside a busy one kept nearly every file: the
// disk filled with bodies long acked. RabbitMQ's message store compacts its files for the same
// reason (it combines files once half of them is garbage).
//
// What is done: a file no longer appended to whose live bodies (those of messages not acked) are
// at most half of it, and whose garbage is worth a write (at least a sixteenth of a full file),
// has its live bodies copied to the file appended to now. Every segment naming the file is
// rewritten: its records' body refs are patched in place (a ref has a fixed length, so the value
// keeps its layout, its key and its state), and its 'X' record names the new files. The copies are
// written and synced before the LevelDB batch that points at them, and that batch is synced
// before the old file may go (it goes once no segment refers to it, as every file does): a crash
// at any moment leaves every message with a body, in its old file or its new one.
//
// Records of acked messages keep refs into the old file: nothing reads them, and a segment's
// body-file list (what decides which files live) no longer names it.
//
// When: LevelStore runs a pass on a timer (bodyCompactionMs). A file is only counted again once a
// segment naming it changed (BodyFiles.touch: acks, a trim, a queue deleted), so a long backlog
// costs one count of its segments, not one every pass. A file worth compacting is moved only when
// the pass before found the same bytes live in it (BodyFiles.steady): a file whose messages are
// being consumed is left to its consumers, who would ack what a copy would rewrite.
import { bodyRefOf, setBodyRef } from './codec.js';
import type { BodyFiles, BodyRef } from './body-files.js';
import { type Segment, SegmentView } from './segments.js';

/** How often LevelStore looks for files to compact by default. */
export const COMPACTION_INTERVAL_MS = 5_000;
/** Body reads in flight at once while copying a file's live bodies. */
const READS_IN_FLIGHT = 16;

/** A segment naming a file, with its value as LevelDB holds it. */
export interface NamingSegment {
  seg: Segment;
  value: Buffer;
}

/** A segment to write again: its value with refs patched (null: unchanged) and the files it names now. */
export interface SegmentRewrite {
  seg: Segment;
  value: Buffer | null;
  files: number[];
}

/** What LevelStore lends a compaction. */
export interface CompactionHost {
  readonly bodies: BodyFiles;
  /** The store is closing: a pass ends at its next step. */
  stopping(): boolean;
  /** Resolves once everything queued is written (a segment naming a file is in LevelDB). */
  settle(): Promise<void>;
  /** Every segment whose body-file list names file no. */
  segmentsNaming(no: number): Promise<NamingSegment[]>;
  /** Writes the rewrites in the next cycle, after the copies and synced; resolves once written. */
  rewrite(rewrites: SegmentRewrite[]): Promise<void>;
}

/** One file looked at: its size, what was live in it, what was copied (0 when it was left). */
export interface CompactionEvent {
  file: number;
  size: number;
  live: number;
  moved: number;
}

/** Whether a file of size bytes with live bytes still in use is worth copying those out of. */
export function worthCompacting(size: number, live: number, fileMax: number): boolean {
  return live * 2 <= size && size - live >= fileMax / 16;
}

/** One pass: every file touched since it was last counted, oldest first. */
export async function compactBodyFiles(host: CompactionHost, onEvent?: (e: CompactionEvent) => void): Promise<CompactionEvent[]> {
  const done: CompactionEvent[] = [];
  for (const { no, size } of host.bodies.toCount()) {
    if (host.stopping()) break;
    const e = await compactFile(host, no, size);
    if (!e) continue;
    done.push(e);
    if (e.moved > 0) onEvent?.(e);
  }
  return done;
}

interface Live {
  seg: Segment;
  value: Buffer;
  /** Record ends (where each ref's bytes end) and the refs into the file, of its live records. */
  ends: number[];
  refs: BodyRef[];
}

/** Counts what is live in file no and, when worth it, moves it; null when it could not be counted. */
async function compactFile(host: CompactionHost, no: number, size: number): Promise<CompactionEvent | null> {
  await host.settle();
  if (host.stopping()) return null;
  const naming = await host.segmentsNaming(no);
  const lives: Live[] = [];
  // A body two queues took in one cycle is in the file once: counted and copied once.
  const bodies = new Map<number, BodyRef>();
  let live = 0;
  for (const { seg, value } of naming) {
    const view = new SegmentView(value);
    const l: Live = { seg, value, ends: [], refs: [] };
    for (let i = 0; i < view.count; i++) {
      if (seg.isAcked(i)) continue;
      const ref = bodyRefOf(value, view.starts[i]!, view.ends[i]!);
      if (!ref || ref.file !== no) continue;
      l.ends.push(view.ends[i]!);
      l.refs.push(ref);
      if (!bodies.has(ref.offset)) {
        bodies.set(ref.offset, ref);
        live += ref.length;
      }
    }
    lives.push(l);
  }
  const event: CompactionEvent = { file: no, size, live, moved: 0 };
  if (!worthCompacting(size, live, host.bodies.rollAt) || host.stopping()) return event;
  // Only once it stays so for a pass: a backlog's file half drained would otherwise have its other
  // half copied just before its consumers ack it.
  if (!host.bodies.steady(no, live)) return event;

  // Copied in file order: the reads go forward through the old file.
  const order = [...bodies.values()].sort((a, b) => a.offset - b.offset);
  const copies = new Map<number, BodyRef>();
  for (let at = 0; at < order.length; at += READS_IN_FLIGHT) {
    const chunk = order.slice(at, at + READS_IN_FLIGHT);
    const read = await Promise.all(chunk.map((ref) => host.bodies.read(ref)));
    // The file went: every segment naming it was deleted meanwhile, nothing is left to move.
    if (read.some((b) => b === null) || host.stopping()) return null;
    for (let i = 0; i < chunk.length; i++) copies.set(chunk[i]!.offset, host.bodies.append(read[i]!));
  }
  const rewrites: SegmentRewrite[] = [];
  for (const l of lives) {
    const files = new Set((l.seg.files ?? []).filter((f) => f !== no));
    for (let i = 0; i < l.refs.length; i++) {
      const copy = copies.get(l.refs[i]!.offset)!;
      setBodyRef(l.value, l.ends[i]!, copy);
      files.add(copy.file);
    }
    rewrites.push({ seg: l.seg, value: l.refs.length > 0 ? l.value : null, files: [...files].sort((a, b) => a - b) });
  }
  await host.rewrite(rewrites);
  event.moved = live;
  return event;
}
