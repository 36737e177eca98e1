// Compaction of body files (body-compaction.ts) behind LevelStore: a long-lived message no longer
// keeps a whole file of acked bodies on disk; its body is moved, read back byte for byte (during
// the move, after it, after a restart), and files no segment needs any more go.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type CompactionEvent, worthCompacting } from '../../src/store/body-compaction.js';
import type { BodyFiles } from '../../src/store/body-files.js';
import { LevelStore } from '../../src/store/level-store.js';
import type { StoredMessage } from '../../src/store/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A data directory of the test's own, removed after it. */
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'warren-compact-'));
  dirs.push(dir);
  return dir;
};
const KiB = 1024;
const FILE_MAX = 256 * KiB;
const SIZE = 20 * KiB;
const body = (seq: number): Buffer => {
  const b = Buffer.alloc(SIZE, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
};
const msg = (seq: number): StoredMessage => ({
  seq,
  redelivered: false,
  exchange: '',
  routingKey: 'q',
  properties: Buffer.from([0x10, 0x00, 2]),
  body: body(seq),
  expiresAt: 0,
});
const queue = (name: string) => ({ vhost: '/', name, autoDelete: false, arguments: Buffer.alloc(0) });
const open = async (dir: string): Promise<LevelStore> => {
  const s = new LevelStore(dir, { bodyFileMax: FILE_MAX, bodyCompactionMs: 0 });
  await s.open();
  return s;
};
/** A file listed may be unlinked before its stat (unlinks run off the main thread): it counts as gone. */
const diskBytes = (dir: string): number =>
  readdirSync(join(dir, 'bodies')).reduce((n, f) => n + (statSync(join(dir, 'bodies', f), { throwIfNoEntry: false })?.size ?? 0), 0);
/** Files are unlinked off the main thread after their batch: polled for a while. */
async function diskBecomes(dir: string, ok: (bytes: number) => boolean): Promise<number> {
  for (let i = 0; i < 100 && !ok(diskBytes(dir)); i++) await new Promise((r) => setTimeout(r, 20));
  return diskBytes(dir);
}
/** Two passes: the first counts, the second moves what is still as live as the first found. */
async function compact(s: LevelStore): Promise<CompactionEvent[]> {
  const first = await s.compactBodies();
  expect(first.every((e) => e.moved === 0)).toBe(true);
  return s.compactBodies();
}
const readAll = (s: LevelStore, q: string) => s.readMessages('/', q, 0, Infinity, Infinity);
function expectBodies(got: StoredMessage[], seqs: number[]): void {
  expect(got.map((m) => m.seq)).toEqual(seqs);
  for (const m of got) expect(m.body.equals(body(m.seq)), `body of ${m.seq}`).toBe(true);
}

/**
 * 240 bodies of 20 KiB over ~19 files of 256 KiB, in cycles of 12: one in every 12 to 'keep',
 * the others to 'fast', whose messages are then all acked. Without compaction every file keeps
 * one live body of 20 KiB.
 */
async function slowBesideFast(s: LevelStore): Promise<number[]> {
  s.putQueue(queue('keep'));
  s.putQueue(queue('fast'));
  const kept: number[] = [];
  for (let seq = 1; seq <= 240; seq++) {
    if (seq % 12 === 0) {
      s.putMessage('/', 'keep', msg(seq));
      kept.push(seq);
    } else s.putMessage('/', 'fast', msg(seq));
    if (seq % 12 === 0) await s.flush();
  }
  for (let seq = 1; seq <= 240; seq++) if (seq % 12 !== 0) s.deleteMessage('/', 'fast', seq);
  await s.flush();
  return kept;
}

describe('body file compaction', () => {
  it('moves the live bodies out of files mostly acked; the files go, the bodies read back, after a restart too', async () => {
    const dir = tempDir();
    let s = await open(dir);
    const kept = await slowBesideFast(s);
    const before = diskBytes(dir);
    // Every file but the last still holds a kept body: nothing was deleted.
    expect(before).toBeGreaterThanOrEqual(230 * SIZE);

    const events = await compact(s);
    const moved = events.filter((e) => e.moved > 0);
    expect(moved.length).toBeGreaterThanOrEqual(15);
    for (const e of moved) expect(e.live * 2).toBeLessThanOrEqual(e.size);
    // The file that was appended to during the pass (fast's last bodies, acked) is counted once it
    // rolls over: a pass or two more, then nothing is touched and a pass counts nothing.
    let passes = 0;
    while ((await s.compactBodies()).some((e) => e.moved > 0 || e.live * 2 <= e.size)) expect(++passes).toBeLessThan(4);
    // What is left: the 20 kept bodies, once, in the files appended to now.
    const after = await diskBecomes(dir, (n) => n <= 20 * SIZE + FILE_MAX);
    expect(after).toBeLessThanOrEqual(20 * SIZE + FILE_MAX);
    expect(after).toBeGreaterThanOrEqual(20 * SIZE);
    expectBodies(await readAll(s, 'keep'), kept);
    expect(await readAll(s, 'fast')).toEqual([]);
    expect(await s.compactBodies()).toEqual([]);
    await s.close();

    s = await open(dir);
    expectBodies(await readAll(s, 'keep'), kept);
    expect(diskBytes(dir)).toBeLessThanOrEqual(20 * SIZE + FILE_MAX);
    // Acking the kept ones empties every file.
    for (const seq of kept) s.deleteMessage('/', 'keep', seq);
    await s.flush();
    expect(await diskBecomes(dir, (n) => n === 0)).toBe(0);
    await s.close();
  });

  it('compacts the segments of an earlier run before anything read them, with the acks their state kept', async () => {
    const dir = tempDir();
    let s = await open(dir);
    const kept = await slowBesideFast(s);
    await s.close();

    s = await open(dir);
    const events = await compact(s);
    expect(events.filter((e) => e.moved > 0).length).toBeGreaterThanOrEqual(15);
    await diskBecomes(dir, (n) => n <= 20 * SIZE + FILE_MAX);
    expect(diskBytes(dir)).toBeLessThanOrEqual(20 * SIZE + FILE_MAX);
    expectBodies(await readAll(s, 'keep'), kept);
    expect(await readAll(s, 'fast')).toEqual([]);
    await s.close();
    s = await open(dir);
    expectBodies(await readAll(s, 'keep'), kept);
    await s.close();
  });

  it('a read that read its segments before the move and its bodies after it gets every body', async () => {
    const dir = tempDir();
    const s = await open(dir);
    const kept = await slowBesideFast(s);
    // The read's body reads wait until the pass is over (and the old files are gone); the pass's own
    // reads go through.
    const files = (s as unknown as { bodies: BodyFiles }).bodies;
    const read = files.read.bind(files);
    let pass: Promise<unknown> | null = null;
    let stalled = 0;
    files.read = async (ref) => {
      if (pass === null) {
        stalled++;
        await new Promise((r) => setImmediate(r));
        await (pass ??= compact(s).then(() => diskBecomes(dir, (n) => n <= 20 * SIZE + FILE_MAX)));
      }
      return read(ref);
    };
    const got = await readAll(s, 'keep');
    expect(stalled).toBe(20);
    expect(diskBytes(dir)).toBeLessThanOrEqual(20 * SIZE + FILE_MAX);
    expectBodies(got, kept);
    await s.close();
  });

  it('leaves files whose bodies are mostly live, and a body in two queues is moved once', async () => {
    const dir = tempDir();
    let s = await open(dir);
    for (const q of ['a', 'b']) s.putQueue(queue(q));
    // 60 bodies, each in both queues (one file place each); 'a' acks all, 'b' a third.
    for (let seq = 1; seq <= 60; seq++) {
      const m = msg(seq);
      s.putMessage('/', 'a', m);
      s.putMessage('/', 'b', m);
      if (seq % 6 === 0) await s.flush();
    }
    for (let seq = 1; seq <= 60; seq++) s.deleteMessage('/', 'a', seq);
    for (let seq = 1; seq <= 60; seq += 3) s.deleteMessage('/', 'b', seq);
    await s.flush();
    const before = diskBytes(dir);
    expect(before).toBe(60 * SIZE);
    const events = await s.compactBodies();
    // Two thirds live: counted, not moved.
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.moved === 0 && e.live * 3 >= e.size)).toBe(true);
    expect(diskBytes(dir)).toBe(before);
    // Now 'b' acks all but every sixth: the files are mostly acked, and the shared bodies moved once.
    for (let seq = 1; seq <= 60; seq++) if (seq % 6 !== 0) s.deleteMessage('/', 'b', seq);
    await s.flush();
    const moved = (await compact(s)).filter((e) => e.moved > 0);
    expect(moved.length).toBeGreaterThan(0);
    const live = Array.from({ length: 10 }, (_, i) => 6 * (i + 1));
    expectBodies(await readAll(s, 'b'), live);
    await s.close();
    s = await open(dir);
    expectBodies(await readAll(s, 'b'), live);
    expect(await readAll(s, 'a')).toEqual([]);
    expect(diskBytes(dir)).toBeLessThanOrEqual(10 * SIZE + FILE_MAX);
    await s.close();
  });

  it('is worth it at half live or less, with garbage of a sixteenth of a file at least', () => {
    expect(worthCompacting(64, 32, 64)).toBe(true);
    expect(worthCompacting(64, 33, 64)).toBe(false);
    expect(worthCompacting(3, 0, 64)).toBe(false);
    expect(worthCompacting(8, 5, 64)).toBe(false);
    expect(worthCompacting(8, 4, 64)).toBe(true);
    expect(worthCompacting(8, 0, 64)).toBe(true);
  });
});
