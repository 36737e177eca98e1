// LevelDB's side of the journaled batches (src/store/level-applies.ts) and what the store built on
// it promises: a write cycle is done when its journal record is, whatever LevelDB still has to
// apply, and nothing that reads LevelDB or deletes ranges from it runs before LevelDB has
// everything handed to it before.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelApplies } from '../../src/store/level-applies.js';
import { LevelStore } from '../../src/store/level-store.js';
import { closeWithoutMarker, storedMessage } from '../helpers/stored-messages.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An apply function whose batches finish only when the test says so. */
function gatedApply() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const fails: ((e: Error) => void)[] = [];
  const apply = (ops: number[]): Promise<void> => {
    batches.push(ops);
    return new Promise<void>((resolve, reject) => {
      gates.push(resolve);
      fails.push(reject);
    });
  };
  return { batches, apply, finish: (i: number) => gates[i]!(), fail: (i: number, e: Error) => fails[i]!(e) };
}

const state = (p: Promise<void>): Promise<string> => Promise.race([p.then(() => 'resolved', () => 'rejected'), new Promise<string>((r) => setTimeout(() => r('pending'), 20))]);

describe('LevelApplies', () => {
  it('applies batches one at a time, in order, and what came meanwhile as one', async () => {
    const g = gatedApply();
    const a = new LevelApplies<number>(g.apply);
    expect(await state(a.settled())).toBe('resolved');
    a.push([1, 2], 20);
    a.push([3], 10);
    a.push([4, 5], 20);
    expect(g.batches).toEqual([[1, 2]]);
    expect(a.behind).toBe(50);
    const first = a.settled();
    g.finish(0);
    await new Promise((r) => setImmediate(r));
    expect(g.batches).toEqual([[1, 2], [3, 4, 5]]);
    // settled() covers everything handed over before it was asked, not more.
    expect(await state(first)).toBe('pending');
    expect(a.behind).toBe(30);
    const second = a.settled();
    a.push([6], 10);
    const third = a.settled();
    g.finish(1);
    expect(await state(first)).toBe('resolved');
    expect(await state(second)).toBe('resolved');
    expect(await state(third)).toBe('pending');
    expect(g.batches).toEqual([[1, 2], [3, 4, 5], [6]]);
    g.finish(2);
    expect(await state(third)).toBe('resolved');
    expect(a.behind).toBe(0);
  });

  it('once an apply fails, refuses more and reports the failure to every wait', async () => {
    const g = gatedApply();
    const a = new LevelApplies<number>(g.apply);
    a.push([1], 1);
    a.push([2], 1);
    const waiting = a.settled();
    g.fail(0, new Error('disk gone'));
    await expect(waiting).rejects.toThrow('disk gone');
    await expect(a.settled()).rejects.toThrow('disk gone');
    expect(() => a.push([3], 1)).toThrow('disk gone');
    expect(g.batches).toEqual([[1]]);
  });
});

describe('LevelStore with LevelDB behind the journal', () => {
  /** A store whose LevelDB applies are held until release(), as a busy LevelDB holds them. */
  async function slowLevel(journalSize?: number) {
    const dir = mkdtempSync(join(tmpdir(), 'warren-applies-'));
    dirs.push(dir);
    const s = new LevelStore(dir, journalSize ? { journalSize } : {});
    await s.open();
    const db = (s as unknown as { db: { _batch: (ops: { type: string }[], o: { sync: boolean }) => Promise<void> } }).db;
    const original = db._batch.bind(db);
    let gate: Promise<void> | null = null;
    let open = (): void => {};
    let heldBatches = 0;
    db._batch = async (ops, o) => {
      const g = gate;
      if (g && !o.sync) {
        heldBatches++;
        await g;
      }
      return original(ops, o);
    };
    return {
      s,
      dir,
      hold: () => void (gate = new Promise<void>((r) => (open = r))),
      release: () => {
        gate = null;
        open();
      },
      held: () => heldBatches,
    };
  }

  it('is done with a cycle once its record is written, before LevelDB has it; reads wait for LevelDB', async () => {
    const { s, hold, release, held } = await slowLevel();
    s.putQueue({ vhost: '/', name: 'q', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    await s.flush();
    hold();
    for (let seq = 1; seq <= 5; seq++) s.putMessage('/', 'q', storedMessage(seq));
    // The flush a confirm waits for: the journal's record, not LevelDB.
    await s.flush();
    expect(held()).toBe(1);
    const read = s.readMessages('/', 'q', 0, Infinity, Infinity);
    expect(await state(read.then(() => undefined))).toBe('pending');
    release();
    expect((await read).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    await s.close();
  });

  it('makes cycles wait for LevelDB again once it is a quarter of the journal behind', async () => {
    // A 256 KiB journal: cycles wait once 64 KiB of records are not applied.
    const { s, hold, release } = await slowLevel(256 * 1024);
    s.putQueue({ vhost: '/', name: 'q', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    await s.flush();
    hold();
    for (let seq = 1; seq <= 500; seq++) s.putMessage('/', 'q', storedMessage(seq));
    await s.flush();
    const behind = (s as unknown as { applies: { behind: number } }).applies;
    expect(behind.behind).toBeGreaterThan(0);
    expect(behind.behind).toBeLessThan(64 * 1024);
    for (let seq = 501; seq <= 5000; seq++) s.putMessage('/', 'q', storedMessage(seq));
    const second = s.flush();
    expect(await state(second)).toBe('pending');
    release();
    await second;
    expect(behind.behind).toBe(0);
    expect((await s.readMessages('/', 'q', 0, Infinity, Infinity)).length).toBe(5000);
    await s.close();
  });

  it('deletes a range only after LevelDB has the puts before it', async () => {
    const { s, dir, hold, release } = await slowLevel();
    s.putQueue({ vhost: '/', name: 'q', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    s.putQueue({ vhost: '/', name: 'gone', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    s.putQueue({ vhost: '/', name: 'head', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    await s.flush();
    hold();
    for (let seq = 1; seq <= 5; seq++) s.putMessage('/', 'q', storedMessage(seq));
    for (let seq = 6; seq <= 8; seq++) s.putMessage('/', 'gone', storedMessage(seq));
    for (let seq = 11; seq <= 15; seq++) s.putMessage('/', 'head', storedMessage(seq));
    await s.flush();
    // Messages below 13 go: the segment 11-15 the boundary falls in stays, found once LevelDB has it.
    s.deleteMessagesBelow('/', 'head', 13);
    // A queue deletion's range deletions, after its puts in LevelDB too: no key of it is left.
    s.deleteQueue('/', 'gone');
    // A purge from seq 3: its range deletion waits for the held puts, which it would otherwise
    // precede in LevelDB, leaving 3-5 there for a later read or restart.
    s.deleteMessagesFrom('/', 'q', 3);
    const purged = s.flush();
    setTimeout(release, 50);
    await purged;
    expect((await s.readMessages('/', 'q', 0, Infinity, Infinity)).map((m) => m.seq)).toEqual([1, 2]);
    expect((await s.readMessages('/', 'head', 0, Infinity, Infinity)).map((m) => m.seq)).toEqual([13, 14, 15]);
    const db = (s as unknown as { db: { keys(): { all(): Promise<Buffer[]> } } }).db;
    expect((await db.keys().all()).filter((k) => k.includes('gone')).map((k) => k.toString('latin1'))).toEqual([]);
    await s.close();
    const again = new LevelStore(dir);
    await again.open();
    expect((await again.readMessages('/', 'q', 0, Infinity, Infinity)).map((m) => m.seq)).toEqual([1, 2]);
    await again.close();
  });

  it('keeps what was confirmed while LevelDB lagged across a crash, a checkpoint waiting for LevelDB', async () => {
    const { s, dir, hold } = await slowLevel();
    s.putQueue({ vhost: '/', name: 'q', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    await s.flush();
    hold();
    for (let seq = 1; seq <= 3; seq++) s.putMessage('/', 'q', storedMessage(seq));
    await s.flush();
    // A checkpoint now would declare the record done: it must wait for LevelDB to have the batch.
    const journal = (s as unknown as { journal: { checkpoint(): Promise<void> } }).journal;
    const checkpoint = journal.checkpoint();
    expect(await state(checkpoint)).toBe('pending');
    // Dies with the batch still on its way to LevelDB: the journal has it.
    await closeWithoutMarker(s);
    const again = new LevelStore(dir);
    await again.open();
    expect((await again.readMessages('/', 'q', 0, Infinity, Infinity)).map((m) => m.seq)).toEqual([1, 2, 3]);
    await again.close();
  });
});
