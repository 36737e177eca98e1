// The page file a long queue's transient messages are paged to (src/store/page-file.ts), used as
// LevelStore uses it: appended in seq order, read back oldest first by cursors, taken back in that
// order; files roll over and are deleted once read back.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PageFile, resetPagesDir } from '../../src/store/page-file.js';
import type { ReadMessage, StoredMessage } from '../../src/store/store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function pagesDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'warren-pagefile-'));
  dirs.push(d);
  return resetPagesDir(d);
}

const msg = (seq: number): StoredMessage => ({
  seq,
  redelivered: seq % 5 === 0,
  exchange: 'ex',
  routingKey: `rk-${seq % 3}`,
  properties: Buffer.from([0x10, 0, 2]),
  body: Buffer.alloc(50 + ((seq * 37) % 400), seq % 256),
  expiresAt: seq % 7 === 0 ? 1_790_000_000_000 + seq : 0,
});

/** One page as LevelStore reads it: a cursor's messages, at most maxCount. */
async function page(p: PageFile, from: number, maxCount: number, maxBytes = Infinity): Promise<ReadMessage[]> {
  const c = p.cursor(from);
  const out: ReadMessage[] = [];
  while (out.length < maxCount) {
    let seq = c.peek();
    while (seq < 0 && !c.done) {
      await c.refill(maxCount - out.length, maxBytes);
      seq = c.peek();
    }
    if (seq < 0) break;
    out.push(c.take());
  }
  await c.close();
  return out;
}

describe('PageFile', () => {
  it('gives every message back whole and in order across rolled-over files, and deletes each file once read back', async () => {
    const dir = await pagesDir();
    const p = new PageFile(dir, 2000);
    for (let seq = 1; seq <= 60; seq++) p.append(msg(seq));
    await p.flushed();
    const files = (await readdir(dir)).length;
    expect(files).toBeGreaterThan(5);
    const seen: number[] = [];
    let from = 1;
    let fewer = false;
    while (p.holds) {
      const got = await page(p, from, 7, 900);
      expect(got.length).toBeGreaterThan(0);
      for (const m of got) {
        const want = msg(m.seq);
        expect(m).toMatchObject({ paged: true, redelivered: want.redelivered, exchange: 'ex', routingKey: want.routingKey, expiresAt: want.expiresAt });
        expect(Buffer.from(m.properties)).toEqual(want.properties);
        expect(Buffer.from(m.body)).toEqual(want.body);
        seen.push(m.seq);
        p.taken(m.seq);
      }
      from = got[got.length - 1]!.seq + 1;
      if ((await readdir(dir)).length < files) fewer = true;
    }
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(fewer).toBe(true);
    expect(await readdir(dir)).toEqual([]);
  });

  it('loses nothing appended while a page is being read, and starts a fresh file once all was read', async () => {
    const dir = await pagesDir();
    const p = new PageFile(dir, 1 << 20);
    for (let seq = 1; seq <= 10; seq++) p.append(msg(seq));
    const reading = page(p, 1, 100);
    for (let seq = 11; seq <= 20; seq++) p.append(msg(seq)); // not written yet when the read began
    const first = await reading;
    for (const m of first) p.taken(m.seq);
    const rest = await page(p, first[first.length - 1]!.seq + 1, 100);
    for (const m of rest) p.taken(m.seq);
    expect([...first, ...rest].map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await p.flushed();
    expect(p.holds).toBe(false);
    expect(await readdir(dir)).toEqual([]);
    p.append(msg(21));
    expect((await page(p, 21, 10)).map((m) => m.seq)).toEqual([21]);
  });

  it('drops everything at once (a purge): nothing more is read, the files go', async () => {
    const dir = await pagesDir();
    const p = new PageFile(dir, 3000);
    for (let seq = 1; seq <= 30; seq++) p.append(msg(seq));
    const got = await page(p, 1, 3);
    for (const m of got) p.taken(m.seq);
    p.drop();
    expect(p.holds).toBe(false);
    await p.flushed();
    await new Promise((r) => setTimeout(r, 10));
    expect(await readdir(dir)).toEqual([]);
    expect(await page(p, 1, 10)).toEqual([]);
    p.append(msg(40));
    expect((await page(p, 1, 10)).map((m) => m.seq)).toEqual([40]);
  });
});
