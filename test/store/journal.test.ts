// The write-ahead journal (src/store/journal.ts): records come back in order from the last
// checkpoint, across wraps; a torn record ends the replay; a new epoch makes old records history;
// and a LevelStore whose LevelDB lost everything after its open gets it back from the journal.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Journal, JOURNAL_FILE, type JournalEntry, type JournalOp, recordsToReplay, replayEntries } from '../../src/store/journal.js';
import { LevelStore } from '../../src/store/level-store.js';
import type { StoredMessage } from '../../src/store/store.js';
import { closeWithoutMarker, storedMessage } from '../helpers/stored-messages.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'warren-journal-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const put = (k: string, v: Buffer | string): JournalOp => ({ type: 'put', key: Buffer.from(k), value: Buffer.isBuffer(v) ? v : Buffer.from(v) });
const del = (k: string): JournalOp => ({ type: 'del', key: Buffer.from(k) });
const replayed = (dir: string): JournalEntry[] => [...replayEntries(dir)!];
const noSync = async (): Promise<void> => {};

describe('Journal', () => {
  it('gives back batches and range deletions in the order written, synced or not', async () => {
    const dir = tempDir();
    const j = await Journal.open(dir, 64 * 1024, noSync);
    await j.write(j.batchRecord([put('a', 'one'), del('b'), put('c', Buffer.alloc(5000, 7))]), true);
    await j.write(j.clearRecord(Buffer.from('m\0'), Buffer.from('m\x01')), false);
    await j.write(j.batchRecord([put('d', '')]), false);
    await j.write(j.batchRecord([del('a')]), true);
    const got = replayed(dir);
    expect(got).toEqual([
      { kind: 'batch', ops: [put('a', 'one'), del('b'), put('c', Buffer.alloc(5000, 7))] },
      { kind: 'clear', gte: Buffer.from('m\0'), lt: Buffer.from('m\x01') },
      { kind: 'batch', ops: [put('d', '')] },
      { kind: 'batch', ops: [del('a')] },
    ]);
    // Closing is a checkpoint: nothing left to replay.
    await j.close();
    expect(replayed(dir)).toEqual([]);
  });

  it('replays from the last checkpoint, across many wraps of the file, and never over records a replay needs', async () => {
    const dir = tempDir();
    const written: number[] = [];
    const started: number[] = [];
    const syncStore = async (): Promise<void> => {
      started.push(written.length);
      await new Promise((r) => setTimeout(r, Math.random() * 3));
    };
    const size = 64 * 1024;
    const j = await Journal.open(dir, size, syncStore);
    let bytes = 0;
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let i = 0; i < 400; i++) {
      const len = 50 + rand(9000);
      bytes += len;
      await j.write(j.batchRecord([put(`k${i}`, Buffer.alloc(len, i % 251))]), rand(3) > 0);
      written.push(i);
      if (rand(4) === 0) j.maybeCheckpoint();
      // Now and then, a look at what a crash here would replay: from a checkpoint, up to the last record.
      if (i % 37 === 36) {
        const got = replayed(dir).map((e) => (e.kind === 'batch' ? e.ops[0]!.key.toString() : ''));
        expect(got.length).toBeGreaterThan(0);
        expect(got[got.length - 1]).toBe(`k${i}`);
        const from = Number(got[0]!.slice(1));
        expect(got).toEqual(written.slice(from).map((n) => `k${n}`));
        expect(started).toContain(from);
      }
    }
    expect(bytes).toBeGreaterThan(20 * size);
    await new Promise((r) => setTimeout(r, 20));
    const last = started[started.length - 1]!;
    const got = replayed(dir);
    expect(got.map((e) => (e.kind === 'batch' ? e.ops[0]!.key.toString() : ''))).toEqual(written.slice(last).map((n) => `k${n}`));
    for (const e of got) if (e.kind === 'batch') expect(e.ops[0]).toEqual(put(e.ops[0]!.key.toString(), Buffer.alloc((e.ops[0] as { value: Buffer }).value.length, Number(e.ops[0]!.key.toString().slice(1)) % 251)));
    j.abandon();
  });

  it('stops at a torn record, and a new epoch leaves the records of the last one unreplayed', async () => {
    const dir = tempDir();
    const j = await Journal.open(dir, 64 * 1024, noSync);
    for (let i = 0; i < 4; i++) await j.write(j.batchRecord([put(`k${i}`, Buffer.alloc(100, i))]), true);
    j.abandon();
    const file = readFileSync(join(dir, JOURNAL_FILE));
    expect(recordsToReplay(file)).toHaveLength(4);
    // Records start on 4 KiB pages after the two checkpoint slots: the third is at 16 KiB.
    file[16 * 1024 + 60] ^= 0xff;
    writeFileSync(join(dir, JOURNAL_FILE), file);
    expect(recordsToReplay(file).map((e) => (e.kind === 'batch' ? e.ops[0]!.key.toString() : ''))).toEqual(['k0', 'k1']);
    const again = await Journal.open(dir, 64 * 1024, noSync);
    expect(replayed(dir)).toEqual([]);
    await again.write(again.batchRecord([put('new', 'x')]), true);
    expect(replayed(dir)).toEqual([{ kind: 'batch', ops: [put('new', 'x')] }]);
    again.abandon();
  });
});

const msg = (seq: number): StoredMessage => storedMessage(seq);
const args = Buffer.from([0, 0, 0, 0]);
const seqs = async (s: LevelStore, q: string): Promise<number[]> => (await s.readMessages('/', q, 0, Infinity, Infinity)).map((m) => m.seq);

describe('LevelStore with its journal', () => {
  it('gets back from the journal what LevelDB lost after its open (a power cut), acks, purges and deletions included', async () => {
    const dir = tempDir();
    const s = new LevelStore(dir);
    await s.open();
    s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: args });
    s.putQueue({ vhost: '/', name: 'b', autoDelete: false, arguments: args });
    s.putQueue({ vhost: '/', name: 'gone', autoDelete: false, arguments: args });
    await s.flush();
    // LevelDB's files as a power cut right now would leave them; the journal's new epoch starts here.
    const cut = tempDir();
    cpSync(dir, cut, { recursive: true });
    for (let seq = 1; seq <= 300; seq++) s.putMessage('/', 'a', msg(seq));
    for (let seq = 1; seq <= 50; seq++) s.putMessage('/', 'gone', msg(seq));
    await s.flush();
    for (let seq = 1; seq <= 100; seq++) s.putMessage('/', 'b', msg(seq));
    for (let seq = 1; seq <= 20; seq++) s.deleteMessage('/', 'a', seq);
    await s.flush();
    s.deleteMessagesFrom('/', 'b', 61);
    s.deleteMessagesBelow('/', 'a', 41);
    s.deleteQueue('/', 'gone');
    s.putMessage('/', 'a', msg(301));
    await s.flush();
    const expectA = await seqs(s, 'a');
    const expectB = await seqs(s, 'b');
    expect(expectA).toEqual([...Array.from({ length: 260 }, (_, i) => i + 41), 301]);
    expect(expectB).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    // The journal as the crash left it, beside the LevelDB that lost its writes.
    copyFileSync(join(dir, JOURNAL_FILE), join(cut, JOURNAL_FILE));
    const lost = tempDir();
    cpSync(cut, lost, { recursive: true });
    rmSync(join(lost, JOURNAL_FILE));
    await closeWithoutMarker(s);

    // Without the journal the messages are gone: what the replay brings back is the journal's.
    const without = new LevelStore(lost, { journalSize: 0 });
    await without.open();
    expect(await seqs(without, 'a')).toEqual([]);
    await without.close();

    const replays: number[] = [];
    const back = new LevelStore(cut, { onJournalReplay: (n) => replays.push(n) });
    const state = await back.open();
    expect(replays).toHaveLength(1);
    expect(state.queues.map((q) => q.name).sort()).toEqual(['a', 'b']);
    expect(await seqs(back, 'a')).toEqual(expectA);
    expect(await seqs(back, 'b')).toEqual(expectB);
    expect(await seqs(back, 'gone')).toEqual([]);
    await back.close();
    // Replayed once: the next open has nothing to write back, and the same messages.
    const third = new LevelStore(cut, { onJournalReplay: (n) => replays.push(n) });
    await third.open();
    expect(replays).toHaveLength(1);
    expect(await seqs(third, 'a')).toEqual(expectA);
    await third.close();
  });

  it('replayed over a LevelDB that kept everything (a process crash), leaves it as it was', async () => {
    const dir = tempDir();
    const s = new LevelStore(dir);
    await s.open();
    s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: args });
    for (let seq = 1; seq <= 500; seq++) s.putMessage('/', 'a', msg(seq));
    await s.flush();
    for (let seq = 1; seq <= 450; seq++) s.deleteMessage('/', 'a', seq);
    s.deleteMessagesFrom('/', 'a', 490);
    await s.flush();
    await closeWithoutMarker(s);
    const replays: number[] = [];
    const back = new LevelStore(dir, { onJournalReplay: (n) => replays.push(n) });
    await back.open();
    expect(replays[0]).toBeGreaterThan(0);
    expect(await seqs(back, 'a')).toEqual(Array.from({ length: 39 }, (_, i) => i + 451));
    await back.close();
  });

  it('lets large batches bypass it without a replay ever writing an older record over them', async () => {
    const dir = tempDir();
    const s = new LevelStore(dir);
    await s.open();
    s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: args });
    s.putQueue({ vhost: '/', name: 'b', autoDelete: false, arguments: args });
    for (let seq = 1; seq <= 10; seq++) s.putMessage('/', 'a', msg(seq));
    await s.flush();
    // Batches of ~600 KB: past the bound, after a few of them, they go to LevelDB alone.
    const big = (seq: number): StoredMessage => ({ ...msg(seq), body: Buffer.alloc(2048, seq % 256) });
    let seq = 0;
    for (let b = 0; b < 12; b++) {
      for (let i = 0; i < 300; i++) s.putMessage('/', 'b', big(++seq));
      await s.flush();
    }
    const journal = (s as unknown as { journal: Journal }).journal;
    expect(journal.bypassed).toBe(true);
    // The acks of a's messages (their segment goes) bypass it too; a's segment is in a record.
    for (let n = 1; n <= 10; n++) s.deleteMessage('/', 'a', n);
    s.deleteMessagesFrom('/', 'b', 3001);
    await s.flush();
    await closeWithoutMarker(s);
    const back = new LevelStore(dir);
    await back.open();
    expect(await seqs(back, 'a')).toEqual([]);
    expect(await seqs(back, 'b')).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    await back.close();
  });

  it('on a disk with no room for it, starts without it: LevelDB syncs, and no partial file is left', async (ctx) => {
    // A 16 MiB filesystem of its own (root may mount one: CI runs as root); skipped where it cannot.
    const dir = tempDir();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { stdio: 'ignore' });
    } catch {
      ctx.skip();
    }
    try {
      const unavailable: Error[] = [];
      const s = new LevelStore(dir, { journalSize: 32 << 20, onJournalUnavailable: (e) => unavailable.push(e) });
      await s.open();
      expect(unavailable.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['ENOSPC']);
      expect(existsSync(join(dir, JOURNAL_FILE))).toBe(false);
      expect((s as unknown as { journal: Journal | null }).journal).toBeNull();
      s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: args });
      for (let seq = 1; seq <= 10; seq++) s.putMessage('/', 'a', msg(seq));
      await s.flush();
      await closeWithoutMarker(s);
      const back = new LevelStore(dir, { journalSize: 32 << 20, onJournalUnavailable: (e) => unavailable.push(e) });
      await back.open();
      expect(await seqs(back, 'a')).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      await back.close();
      expect(unavailable).toHaveLength(2);
    } finally {
      // Lazy: a store a failed assertion left open must not keep the mount (and the test's dir) busy.
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    }
  });

  it('without fsync, replays what an earlier run left and removes the journal', async () => {
    const dir = tempDir();
    const s = new LevelStore(dir);
    await s.open();
    s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: args });
    await s.flush();
    const cut = tempDir();
    cpSync(dir, cut, { recursive: true });
    for (let seq = 1; seq <= 10; seq++) s.putMessage('/', 'a', msg(seq));
    await s.flush();
    copyFileSync(join(dir, JOURNAL_FILE), join(cut, JOURNAL_FILE));
    await closeWithoutMarker(s);
    const back = new LevelStore(cut, { fsync: false });
    await back.open();
    expect(await seqs(back, 'a')).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(replayEntries(cut)).toBeNull();
    await back.close();
  });
});
