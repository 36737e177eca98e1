// The LevelDB store behind its interface: group commit, recovery in order, clean-shutdown marker.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelStore } from '../../src/store/level-store.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Store, StoredMessage } from '../../src/store/store.js';
import { closeWithoutMarker, storedMessage } from '../helpers/stored-messages.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const msg = (seq: number): StoredMessage => storedMessage(seq);

const all = (s: Store, q: string, from = 0) => s.readMessages('/', q, from, Infinity, Infinity);

/** Once LevelDB has every batch handed to it: it applies them behind the journal (level-applies.ts). */
const applied = (s: LevelStore): Promise<void> => (s as unknown as { applies: { settled(): Promise<void> } }).applies.settled();

const stores: [string, () => { make: () => Store }][] = [
  [
    'LevelStore',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'warren-store-'));
      dirs.push(dir);
      return { make: () => new LevelStore(dir) };
    },
  ],
  [
    'MemoryStore',
    () => {
      const s = new MemoryStore();
      return { make: () => s };
    },
  ],
];

describe.each(stores)('%s', (_name, setup) => {
  it('recovers queues and their messages in order, byte for byte, minus deleted ones', async () => {
    const { make } = setup();
    const s = make();
    const first = await s.open();
    expect(first.queues).toEqual([]);
    s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    s.putQueue({ vhost: '/', name: 'gone', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    for (const seq of [300, 2, 70_000]) s.putMessage('/', 'a', msg(seq));
    s.putMessage('/', 'gone', msg(5));
    s.deleteMessage('/', 'a', 2);
    s.deleteQueue('/', 'gone');
    await s.flush();
    await s.close();

    const again = make();
    const state = await again.open();
    expect(state.cleanShutdown).toBe(true);
    expect(state.queues.map((q) => q.name)).toEqual(['a']);
    const got = await all(again, 'a');
    expect(got.map((m) => m.seq)).toEqual([300, 70_000]);
    expect(Buffer.from(got[0]!.properties)).toEqual(msg(300).properties);
    expect(Buffer.from(got[0]!.body)).toEqual(msg(300).body);
    expect(got[0]!.paged).toBe(false);
    expect(await all(again, 'gone')).toEqual([]);
    await again.close();
  });

  it('reports an unclean shutdown', async () => {
    const { make } = setup();
    const s = make();
    await s.open();
    s.putQueue({ vhost: '/', name: 'a', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    await s.flush();
    // No close(): as if the process died here. Reopen through a fresh handle on the same data.
    const state = await (s instanceof LevelStore ? (await closeWithoutMarker(s), make()) : s).open();
    expect(state.cleanShutdown).toBe(false);
  });
});

describe.each(stores)('%s paging', (_name, setup) => {
  it('merges persistent and paged messages in seq order, within count and byte limits', async () => {
    const s = setup().make();
    await s.open();
    for (const seq of [1, 4, 5, 9]) s.putMessage('/', 'q', msg(seq));
    for (const seq of [2, 3, 6, 7, 8]) s.putPaged('/', 'q', msg(seq));
    s.putPaged('/', 'other', msg(10));
    const read = await s.readMessages('/', 'q', 3, 4, Infinity);
    expect(read.map((m) => [m.seq, m.paged])).toEqual([
      [3, true],
      [4, false],
      [5, false],
      [6, true],
    ]);
    // Bodies are 'body-N' (6 bytes): the read stops once 10 bytes are in, and always returns one.
    expect((await s.readMessages('/', 'q', 0, 100, 10)).map((m) => m.seq)).toEqual([1, 2]);
    expect((await s.readMessages('/', 'q', 0, 100, 1)).map((m) => m.seq)).toEqual([1]);
    expect((await s.readMessages('/', 'q', 0, 100, 0)).map((m) => m.seq)).toEqual([1]);
    expect(await s.countMessages('/', 'q', 5)).toEqual({ count: 5, bytes: 30, lastSeq: 9 });
    // As a queue does: paged messages are read back oldest first and taken back in that order.
    const page = await s.readMessages('/', 'q', 0, 3, Infinity);
    expect(page.map((m) => m.seq)).toEqual([1, 2, 3]);
    for (const m of page) if (m.paged) s.deletePaged('/', 'q', m.seq);
    expect((await all(s, 'q')).map((m) => [m.seq, m.paged])).toEqual([
      [1, false],
      [4, false],
      [5, false],
      [6, true],
      [7, true],
      [8, true],
      [9, false],
    ]);
    // A purge of the paged part, from its oldest message: every paged one goes, persistent 9 too.
    s.deleteMessagesFrom('/', 'q', 6);
    expect((await all(s, 'q')).map((m) => m.seq)).toEqual([1, 4, 5]);
    s.putPaged('/', 'q', msg(11));
    expect((await all(s, 'q')).map((m) => m.seq)).toEqual([1, 4, 5, 11]);
    // Deleted, then declared again under the same name: its page file is a new one, which reads
    // find (the store remembers the last queue it paged for).
    s.deleteQueue('/', 'q');
    s.putPaged('/', 'q', msg(12));
    s.putPaged('/', 'q', msg(13));
    expect((await all(s, 'q')).map((m) => [m.seq, m.paged])).toEqual([
      [12, true],
      [13, true],
    ]);
    await s.close();
  });

  it('keeps expiry times and redelivered flags; paged messages do not survive a restart', async () => {
    const { make } = setup();
    const s = make();
    await s.open();
    s.putQueue({ vhost: '/', name: 'q', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    s.putMessage('/', 'q', { ...msg(1), expiresAt: 1_790_000_000_123, redelivered: true });
    s.putPaged('/', 'q', msg(2));
    s.putMessage('/', 'q', msg(3));
    const [first] = await all(s, 'q');
    expect(first).toMatchObject({ seq: 1, expiresAt: 1_790_000_000_123, redelivered: true, routingKey: 'q' });
    expect(Buffer.from(first!.body)).toEqual(msg(1).body);
    await s.close();
    const again = make();
    await again.open();
    expect((await all(again, 'q')).map((m) => [m.seq, m.expiresAt])).toEqual([
      [1, 1_790_000_000_123],
      [3, 0],
    ]);
    expect(await again.lastSeq('/', 'q')).toBe(3);
    again.deleteQueue('/', 'q');
    expect(await all(again, 'q')).toEqual([]);
    await again.close();
  });

  it("counts body bytes of records with a delivery count; keeps a quorum queue's dead letters apart, with their settled targets", async () => {
    const { make } = setup();
    const s = make();
    await s.open();
    s.putQueue({ vhost: '/', name: 'qq', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    s.putMessage('/', 'qq', { ...msg(1), deliveryCount: 3 });
    s.putMessage('/', 'qq', msg(2));
    s.putDeadLetter('/', 'qq', { ...msg(3), settled: ['target-a', 'tärget-b'] });
    s.putDeadLetter('/', 'qq', msg(4));
    s.putDeadLetter('/', 'qq', msg(5));
    s.deleteDeadLetter('/', 'qq', 4);
    // Dead letters are not the queue's messages: neither read nor counted with them.
    expect(await s.countMessages('/', 'qq', 0)).toEqual({ count: 2, bytes: 12, lastSeq: 2 });
    expect((await all(s, 'qq')).map((m) => [m.seq, m.deliveryCount])).toEqual([
      [1, 3],
      [2, undefined],
    ]);
    await s.close();
    const again = make();
    await again.open();
    const dead = await again.readDeadLetters('/', 'qq');
    expect(dead.map((m) => [m.seq, m.settled ?? [], Buffer.from(m.body).toString()])).toEqual([
      [3, ['target-a', 'tärget-b'], 'body-3'],
      [5, [], 'body-5'],
    ]);
    again.deleteQueue('/', 'qq');
    expect(await again.readDeadLetters('/', 'qq')).toEqual([]);
    await again.close();
  });
});

describe.each(stores)('%s totals', (_name, setup) => {
  it('keeps totals across a clean shutdown only, and only for one start', async () => {
    const { make } = setup();
    const s = make();
    await s.open();
    s.putTotals('/', 'q', { count: 7, bytes: 70, lastSeq: 9 });
    await s.close();
    const again = make();
    expect((await again.open()).totals.get('/\0q')).toEqual({ count: 7, bytes: 70, lastSeq: 9 });
    await again.close();
    const third = make();
    expect((await third.open()).totals.size).toBe(0);
    third.putTotals('/', 'q', { count: 1, bytes: 1, lastSeq: 1 });
    await third.flush();
    // As after a crash: the totals written before it are not trusted.
    const crashed = third instanceof LevelStore ? (await closeWithoutMarker(third), make()) : third;
    expect((await crashed.open()).totals.size).toBe(0);
  });
});

describe.each(stores)('%s acks and trims', (_name, setup) => {
  it('keeps what is not acked across restarts, with redelivered flags; trims inside a batch', async () => {
    const { make } = setup();
    const s = make();
    await s.open();
    s.putQueue({ vhost: '/', name: 'q', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    s.putQueue({ vhost: '/', name: 'st', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) });
    // Two batches of ten: 1…10, then 11…20 (every other seq: not consecutive).
    for (let seq = 1; seq <= 10; seq++) s.putMessage('/', 'q', msg(seq));
    await s.flush();
    for (let seq = 12; seq <= 30; seq += 2) s.putMessage('/', 'q', msg(seq));
    for (let seq = 1; seq <= 20; seq++) s.putMessage('/', 'st', msg(seq));
    await s.flush();
    for (const seq of [1, 2, 5, 14, 16]) s.deleteMessage('/', 'q', seq);
    s.deleteMessage('/', 'q', 15); // not stored: nothing happens
    s.putRedelivered('/', 'q', { ...msg(3), redelivered: true });
    s.deleteMessagesFrom('/', 'q', 24);
    s.deleteMessagesBelow('/', 'st', 6);
    expect((await all(s, 'q')).map((m) => [m.seq, m.redelivered])).toEqual([
      [3, true],
      [4, false],
      [6, false],
      [7, false],
      [8, false],
      [9, false],
      [10, false],
      [12, false],
      [18, false],
      [20, false],
      [22, false],
    ]);
    expect((await all(s, 'q', 9)).map((m) => m.seq)).toEqual([9, 10, 12, 18, 20, 22]);
    expect((await s.readMessages('/', 'q', 4, 3, Infinity)).map((m) => m.seq)).toEqual([4, 6, 7]);
    expect(await s.countMessages('/', 'q', 10)).toEqual({ count: 5, bytes: 5 * 7, lastSeq: 22 });
    expect(await s.lastSeq('/', 'q')).toBe(22);
    await s.close();
    const again = make();
    await again.open();
    expect((await all(again, 'q')).map((m) => [m.seq, m.redelivered])).toEqual([
      [3, true],
      [4, false],
      [6, false],
      [7, false],
      [8, false],
      [9, false],
      [10, false],
      [12, false],
      [18, false],
      [20, false],
      [22, false],
    ]);
    expect((await all(again, 'st')).map((m) => m.seq)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    // Acks of a previous run's messages, and trims of segments this run has not read.
    for (const seq of [3, 4, 6, 7, 8, 9, 10]) again.deleteMessage('/', 'q', seq);
    again.deleteMessagesFrom('/', 'q', 20);
    again.deleteMessagesBelow('/', 'st', 16);
    expect((await all(again, 'q')).map((m) => m.seq)).toEqual([12, 18]);
    expect(await again.lastSeq('/', 'q')).toBe(18);
    expect((await all(again, 'st')).map((m) => m.seq)).toEqual([16, 17, 18, 19, 20]);
    await again.close();
    const third = make();
    await third.open();
    expect((await all(third, 'q')).map((m) => m.seq)).toEqual([12, 18]);
    expect((await all(third, 'st')).map((m) => m.seq)).toEqual([16, 17, 18, 19, 20]);
    await third.close();
  });
});

describe('LevelStore segments', () => {
  const open = async (): Promise<{ dir: string; s: LevelStore }> => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-store-'));
    dirs.push(dir);
    const s = new LevelStore(dir);
    await s.open();
    return { dir, s };
  };
  const keys = async (s: LevelStore, letter: string): Promise<number> => {
    await applied(s);
    const db = (s as unknown as { db: { keys(o: object): { all(): Promise<Buffer[]> } } }).db;
    return (await db.keys({ gte: Buffer.from(letter + '\0'), lt: Buffer.from(letter + '\x01') }).all()).length;
  };

  it('reads back which messages were out to a consumer (at or below the delivered mark, not returned in place) and the counts of returns in place', async () => {
    const { dir, s } = await open();
    for (let seq = 1; seq <= 6; seq++) s.putMessage('/', 'q', msg(seq));
    await s.flush();
    for (const seq of [1, 2, 3, 4, 5, 6]) s.markCheckedOut('/', 'q', seq);
    s.putRedelivered('/', 'q', { ...msg(2), redelivered: true, deliveryCount: 3 }); // returned in place
    s.deleteMessage('/', 'q', 3); // settled
    s.putMessage('/', 'q', msg(7));
    s.putMessage('/', 'q', msg(8));
    s.markCheckedOut('/', 'q', 7); // delivered before its write, returned before it too
    s.putRedelivered('/', 'q', { ...msg(7), redelivered: true, deliveryCount: 1 });
    await s.flush();
    await closeWithoutMarker(s);
    const again = new LevelStore(dir);
    await again.open();
    const read = async (st: LevelStore) => (await all(st, 'q')).map((m) => [m.seq, m.redelivered, m.deliveryCount, m.checkedOut]);
    expect(await read(again)).toEqual([
      [1, false, undefined, true],
      [2, true, 3, undefined],
      [4, false, undefined, true],
      [5, false, undefined, true],
      [6, false, undefined, true],
      [7, true, 1, undefined],
      [8, false, undefined, undefined],
    ]);
    // After the restart: 1 returned in place, 2 delivered again (below the mark: out once more).
    again.putRedelivered('/', 'q', { ...msg(1), redelivered: true, deliveryCount: 1 });
    again.markCheckedOut('/', 'q', 2);
    await again.flush();
    await again.close();
    const third = new LevelStore(dir);
    await third.open();
    expect(await read(third)).toEqual([
      [1, true, 1, undefined],
      [2, true, 3, true],
      [4, false, undefined, true],
      [5, false, undefined, true],
      [6, false, undefined, true],
      [7, true, 1, undefined],
      [8, false, undefined, undefined],
    ]);
    await third.close();
  });

  it('writes the messages a queue takes in one batch as one record, and deletes it once all are acked', async () => {
    const { s } = await open();
    for (let seq = 1; seq <= 5000; seq++) s.putMessage('/', 'q', msg(seq));
    await s.flush();
    // 4096 messages at most in a segment.
    expect(await keys(s, 'M')).toBe(2);
    for (let seq = 1; seq <= 4095; seq++) s.deleteMessage('/', 'q', seq);
    await s.flush();
    expect(await keys(s, 'S')).toBe(1);
    s.deleteMessage('/', 'q', 4096);
    await s.flush();
    expect([await keys(s, 'M'), await keys(s, 'S')]).toEqual([1, 0]);
    expect((await all(s, 'q')).length).toBe(904);
    await s.close();
  });

  it('writes nothing for messages acked before their batch', async () => {
    const { s } = await open();
    for (let seq = 1; seq <= 10; seq++) s.putMessage('/', 'q', msg(seq));
    for (let seq = 1; seq <= 10; seq++) s.deleteMessage('/', 'q', seq);
    await s.flush();
    expect(await keys(s, 'M')).toBe(0);
    await s.close();
  });

  it('holds a write nobody hurries back, so deletes of the next ticks cancel its puts; flush() writes at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-store-'));
    dirs.push(dir);
    // A write nobody hurries waits a minute here, not a millisecond: only the flushes start them.
    const s = new LevelStore(dir, { unhurriedMs: 60_000, holdWhenIdle: true });
    await s.open();
    // Counts the segments (key prefix 'M') each LevelDB batch puts (the store calls classic-level's _batch).
    const db = (s as unknown as { db: { _batch: (ops: { type: string; key: Buffer }[], o?: object) => Promise<void> } }).db;
    const batch = db._batch.bind(db);
    let segmentPuts = 0;
    db._batch = (ops, o) => {
      segmentPuts += ops.filter((op) => op.type === 'put' && op.key[0] === 0x4d).length;
      return batch(ops, o);
    };
    const nextTick = (): Promise<void> => new Promise((r) => setImmediate(r));
    // Not hurried (a confirm its consumers' acks may settle): the acks two ticks later still cancel.
    for (let seq = 1; seq <= 10; seq++) s.putMessage('/', 'q', msg(seq));
    const unhurried = s.flush(false);
    await nextTick();
    await nextTick();
    for (let seq = 1; seq <= 10; seq++) s.deleteMessage('/', 'q', seq);
    // A hurried flush starts the cycle; the unhurried one resolves with it.
    await s.flush();
    await unhurried;
    await applied(s);
    expect(segmentPuts).toBe(0);
    // (A flush resolves before the store clears its write in flight: a tick for it.)
    await nextTick();
    // Hurried: the write starts after this tick; the deletes that follow find the segment written.
    for (let seq = 21; seq <= 30; seq++) s.putMessage('/', 'q', msg(seq));
    const hurried = s.flush();
    await nextTick();
    for (let seq = 21; seq <= 30; seq++) s.deleteMessage('/', 'q', seq);
    await hurried;
    await applied(s);
    expect(segmentPuts).toBe(1);
    // (The deletes' own write first.)
    await s.flush();
    await nextTick();
    // Nobody waits (a publish without confirms): as soon too.
    for (let seq = 31; seq <= 40; seq++) s.putMessage('/', 'q', msg(seq));
    await nextTick();
    await nextTick();
    for (let seq = 31; seq <= 40; seq++) s.deleteMessage('/', 'q', seq);
    await s.flush();
    await applied(s);
    expect(segmentPuts).toBe(2);
    await nextTick();
    // A hurried flush brings a held write forward.
    for (let seq = 41; seq <= 50; seq++) s.putMessage('/', 'q', msg(seq));
    void s.flush(false);
    await nextTick();
    const forward = s.flush();
    await nextTick();
    for (let seq = 41; seq <= 50; seq++) s.deleteMessage('/', 'q', seq);
    await forward;
    await applied(s);
    expect(segmentPuts).toBe(3);
    await s.flush();
    expect(await keys(s, 'M')).toBe(0);
    expect(await all(s, 'q')).toEqual([]);
    await s.close();
  });

  it('does not hold a write nobody hurries while the event loop is mostly idle: confirms, not saved work, are what count then', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-store-'));
    dirs.push(dir);
    // A hold lasts a minute here: a write held would time the test out.
    const s = new LevelStore(dir, { unhurriedMs: 60_000 });
    await s.open();
    // The loop is looked at over windows of 100 ms: this one is idle.
    await new Promise((r) => setTimeout(r, 150));
    for (let seq = 1; seq <= 10; seq++) s.putMessage('/', 'q', msg(seq));
    await s.flush(false);
    expect((await all(s, 'q')).length).toBe(10);
    // A busy loop (here 120 ms of it) brings the hold back: the next unhurried write waits.
    const until = performance.now() + 120;
    while (performance.now() < until);
    for (let seq = 11; seq <= 20; seq++) s.putMessage('/', 'q', msg(seq));
    let written = false;
    const held = s.flush(false).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(written).toBe(false);
    await s.flush();
    await held;
    await s.close();
  }, 20_000);

  it('lets the write of large bodies on their way to consumers wait for their acks, unless a waiter may not or the last such wait did not pay', async () => {
    const open2 = async (): Promise<{ s: LevelStore; appended: () => number }> => {
      const dir = mkdtempSync(join(tmpdir(), 'warren-store-'));
      dirs.push(dir);
      // A wait for acks lasts a minute here: a test that waited for one would time out.
      const s = new LevelStore(dir, { ackHoldMs: 60_000 });
      await s.open();
      // Counts the body bytes each cycle hands to the body files.
      const files = (s as unknown as { bodies: { append: (b: Buffer) => unknown } }).bodies;
      const append = files.append.bind(files);
      let n = 0;
      files.append = (b: Buffer) => ((n += b.length), append(b));
      return { s, appended: () => n };
    };
    const big = (seq: number): StoredMessage => ({ ...msg(seq), body: Buffer.alloc(64 * 1024, seq) });
    const { s, appended } = await open2();
    // Put for a consumer, by a waiter that may wait for acks: held; the acks cancel every write.
    for (let seq = 1; seq <= 4; seq++) s.putMessage('/', 'q', big(seq), true);
    const held = s.flush(false, true);
    // Not a publisher's backlog: these are in memory with their consumer anyway.
    expect(s.backlogBytes).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(appended()).toBe(0);
    for (let seq = 1; seq <= 4; seq++) expect(s.deleteMessage('/', 'q', seq)).toBe(true);
    await s.flush();
    await held;
    expect(appended()).toBe(0);
    expect(await all(s, 'q')).toEqual([]);
    // Never acked: a hurried flush writes them (deletes now find them written)...
    for (let seq = 5; seq <= 8; seq++) s.putMessage('/', 'q', big(seq), true);
    const unpaid = s.flush(false, true);
    await new Promise((r) => setTimeout(r, 20));
    await s.flush();
    await unpaid;
    expect(appended()).toBe(4 * 64 * 1024);
    expect(s.deleteMessage('/', 'q', 5)).toBe(false);
    // ...and that wait did not pay: the next such write waits a millisecond, not for acks.
    s.putMessage('/', 'q', big(9), true);
    await s.flush(false, true);
    expect(appended()).toBe(5 * 64 * 1024);
    await s.close();

    // A waiter that may not wait for acks (a publisher waiting on each confirm) is not held.
    const other = await open2();
    other.s.putMessage('/', 'q', big(1), true);
    await other.s.flush(false);
    expect(other.appended()).toBe(64 * 1024);
    await other.s.close();
  }, 20_000);

  it("keeps a message older than one of the queue's written ones as a record of its own", async () => {
    const { dir, s } = await open();
    s.putMessage('/', 'q', msg(10));
    s.putMessage('/', 'q', msg(12));
    await s.flush();
    // Not something the broker does (a queue's seqs only grow): kept all the same, read in order.
    s.putMessage('/', 'q', msg(11));
    s.putMessage('/', 'q', msg(9));
    s.putMessage('/', 'q', msg(13));
    expect((await all(s, 'q')).map((m) => m.seq)).toEqual([9, 10, 11, 12, 13]);
    s.deleteMessage('/', 'q', 11);
    s.deleteMessage('/', 'q', 12);
    expect((await all(s, 'q')).map((m) => m.seq)).toEqual([9, 10, 13]);
    await s.close();
    const again = new LevelStore(dir);
    await again.open();
    expect((await all(again, 'q')).map((m) => m.seq)).toEqual([9, 10, 13]);
    again.deleteMessage('/', 'q', 9);
    expect((await all(again, 'q')).map((m) => m.seq)).toEqual([10, 13]);
    await again.close();
  });

  it('reads, acks and trims records of the layout before segments (one per message)', async () => {
    const { dir, s } = await open();
    await s.close();
    // Written as earlier versions did: 'm' 0 vhost 0 name 0 seq, one record each.
    const { Level } = await import('level');
    const { encodeMessage, messageKey, messagePrefix } = await import('../../src/store/codec.js');
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    await db.batch([1, 2, 3, 4].map((seq) => ({ type: 'put' as const, key: messageKey(messagePrefix('/', 'q'), seq), value: encodeMessage(msg(seq)) })));
    await db.batch([1, 2, 3].map((seq) => ({ type: 'put' as const, key: messageKey(messagePrefix('/', 'st'), seq), value: encodeMessage(msg(seq)) })));
    await db.close();
    const again = new LevelStore(dir);
    await again.open();
    again.putMessage('/', 'q', msg(5));
    again.putMessage('/', 'q', msg(6));
    expect((await all(again, 'q')).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    again.deleteMessage('/', 'q', 2);
    again.deleteMessage('/', 'q', 5);
    again.putRedelivered('/', 'q', { ...msg(3), redelivered: true });
    again.deleteMessagesFrom('/', 'q', 4);
    again.deleteMessagesBelow('/', 'st', 2);
    expect((await all(again, 'q')).map((m) => [m.seq, m.redelivered])).toEqual([
      [1, false],
      [3, true],
    ]);
    expect(await again.countMessages('/', 'q', 0)).toEqual({ count: 2, bytes: 12, lastSeq: 3 });
    expect(await again.lastSeq('/', 'q')).toBe(3);
    await again.close();
    const third = new LevelStore(dir);
    await third.open();
    expect((await all(third, 'q')).map((m) => m.seq)).toEqual([1, 3]);
    expect((await all(third, 'st')).map((m) => m.seq)).toEqual([2, 3]);
    third.deleteQueue('/', 'q');
    await third.flush();
    expect(await keys(third, 'm')).toBe(2);
    await third.close();
  });
});
