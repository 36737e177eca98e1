// Large persistent bodies in body files (body-files.ts) behind LevelStore: read back byte for byte
// across restarts, a body put in two queues written once, files deleted once no segment refers to
// them (at run time and at open), and a segment whose file is gone dropped at open.
import { mkdtempSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LevelStore } from '../../src/store/level-store.js';
import type { StoredMessage } from '../../src/store/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const KiB = 1024;
/** A body of size bytes that says which seq it is, in every byte. */
const body = (seq: number, size: number): Buffer => {
  const b = Buffer.alloc(size, seq & 0xff);
  b.writeUInt32BE(seq, 0);
  return b;
};
const msg = (seq: number, size: number): StoredMessage => ({
  seq,
  redelivered: false,
  exchange: 'x',
  routingKey: 'rk',
  properties: Buffer.from([0x10, 0x00, 2]),
  body: body(seq, size),
  expiresAt: 0,
});
const sizeOf = (seq: number): number => (seq % 3 === 0 ? 100 : seq % 3 === 1 ? 20 * KiB : 300 * KiB);
const bodyFiles = (dir: string): string[] => readdirSync(join(dir, 'bodies')).sort();
const open = async (dir: string): Promise<LevelStore> => {
  // Files roll over every 1 MiB here, so that some of them can be emptied and deleted.
  const s = new LevelStore(dir, { bodyFileMax: 1024 * KiB });
  await s.open();
  return s;
};
const read = (s: LevelStore, q: string) => s.readMessages('/', q, 0, Infinity, Infinity);
/** Files are unlinked off the main thread after the batch: the listing is polled for a while. */
async function filesBecome(dir: string, ok: (files: string[]) => boolean): Promise<string[]> {
  for (let i = 0; i < 100 && !ok(bodyFiles(dir)); i++) await new Promise((r) => setTimeout(r, 20));
  return bodyFiles(dir);
}

describe('body files', () => {
  it('large bodies come back byte for byte, mixed with small ones, after a restart too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-bodies-'));
    dirs.push(dir);
    let s = await open(dir);
    s.putQueue({ vhost: '/', name: 'q', autoDelete: false, arguments: Buffer.alloc(0) });
    for (let seq = 1; seq <= 30; seq++) s.putMessage('/', 'q', msg(seq, sizeOf(seq)));
    await s.flush();
    const check = (got: StoredMessage[], seqs: number[]): void => {
      expect(got.map((m) => m.seq)).toEqual(seqs);
      for (const m of got) expect(m.body.equals(body(m.seq, sizeOf(m.seq)))).toBe(true);
    };
    const seqs = Array.from({ length: 30 }, (_, i) => i + 1);
    check(await read(s, 'q'), seqs);
    // Large bodies are not in LevelDB: the files hold them (20 of the 30 are at least 16 KiB).
    const inFiles = bodyFiles(dir).reduce((n, f) => n + statSync(join(dir, 'bodies', f)).size, 0);
    expect(inFiles).toBe(seqs.filter((q) => sizeOf(q) >= 16 * KiB).reduce((n, q) => n + sizeOf(q), 0));
    // maxBytes counts the bodies in files too.
    expect((await s.readMessages('/', 'q', 0, Infinity, 400 * KiB)).length).toBe(5);
    expect(await s.countMessages('/', 'q', 0)).toEqual({ count: 30, bytes: seqs.reduce((n, q) => n + sizeOf(q), 0), lastSeq: 30 });
    for (let seq = 1; seq <= 10; seq++) s.deleteMessage('/', 'q', seq);
    await s.close();

    s = await open(dir);
    check(await read(s, 'q'), seqs.slice(10));
    await s.close();
  });

  it('files go once every message in them is acked or its queue deleted, in this run and at open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-bodies-'));
    dirs.push(dir);
    let s = await open(dir);
    for (const q of ['a', 'b']) s.putQueue({ vhost: '/', name: q, autoDelete: false, arguments: Buffer.alloc(0) });
    // One message object to two queues (a fan-out): its body is written once.
    for (let seq = 1; seq <= 20; seq++) {
      const m = msg(seq, 300 * KiB);
      s.putMessage('/', 'a', m);
      s.putMessage('/', 'b', m);
      await s.flush();
    }
    const total = bodyFiles(dir).reduce((n, f) => n + statSync(join(dir, 'bodies', f)).size, 0);
    expect(total).toBe(20 * 300 * KiB);
    const before = bodyFiles(dir);
    expect(before.length).toBeGreaterThan(4);
    // Acked in a, still in b: nothing goes.
    for (let seq = 1; seq <= 10; seq++) s.deleteMessage('/', 'a', seq);
    await s.flush();
    await s.flush();
    expect(bodyFiles(dir)).toEqual(before);
    // Acked in both: the files holding only those go (the current one stays).
    for (let seq = 1; seq <= 10; seq++) s.deleteMessage('/', 'b', seq);
    await s.flush();
    await s.flush();
    const after = await filesBecome(dir, (f) => f.length < before.length);
    expect(after.length).toBeLessThan(before.length);
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect((await read(s, 'b')).map((m) => m.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 11));
    await s.close();

    // At open: b's rest is purged unread, a is deleted unread; every file goes but the new one.
    s = await open(dir);
    s.deleteMessagesFrom('/', 'b', 0);
    s.deleteQueue('/', 'a');
    await s.flush();
    await s.flush();
    await s.close();
    s = await open(dir);
    expect(await filesBecome(dir, (f) => f.length === 0)).toEqual([]);
    expect(await read(s, 'b')).toEqual([]);
    await s.close();
  });

  it('a segment whose body file is missing at open is dropped (its deletion was lost), the rest read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-bodies-'));
    dirs.push(dir);
    let s = await open(dir);
    s.putQueue({ vhost: '/', name: 'q', autoDelete: false, arguments: Buffer.alloc(0) });
    for (let seq = 1; seq <= 8; seq++) {
      s.putMessage('/', 'q', msg(seq, 300 * KiB));
      await s.flush();
    }
    await s.close();
    const files = bodyFiles(dir);
    unlinkSync(join(dir, 'bodies', files[0]!));
    s = await open(dir);
    const got = await read(s, 'q');
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(8);
    for (const m of got) expect(m.body.equals(body(m.seq, 300 * KiB))).toBe(true);
    await s.close();
  });

  it("a stream's retention (delete below a seq) frees the files only the removed segments used", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warren-bodies-'));
    dirs.push(dir);
    const s = await open(dir);
    s.putQueue({ vhost: '/', name: 'st', autoDelete: false, arguments: Buffer.alloc(0) });
    // One segment per message; three 300 KiB bodies to a 1 MiB file.
    for (let seq = 1; seq <= 8; seq++) {
      s.putMessage('/', 'st', msg(seq, 300 * KiB));
      await s.flush();
    }
    const before = bodyFiles(dir);
    expect(before.length).toBe(3);
    s.deleteMessagesBelow('/', 'st', 5);
    await s.flush();
    await s.flush();
    // The first file held 1-3 only: gone. The second holds 4-6, and 5 and 6 stay.
    expect(await filesBecome(dir, (f) => f.length < 3)).toEqual(before.slice(1));
    const got = await read(s, 'st');
    expect(got.map((m) => m.seq)).toEqual([5, 6, 7, 8]);
    for (const m of got) expect(m.body.equals(body(m.seq, 300 * KiB))).toBe(true);
    await s.close();
  });
});
