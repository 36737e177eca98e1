// Large bodies (issue 14, goal 3), with amqplib over TCP against the built broker (dist/cli.js):
// a flood of 1 MiB bodies nobody consumes stays under the memory watermark (the queue pages the
// overflow to its page file) and then comes back whole and in order; transient bodies paged on a
// durable queue come back in order among its persistent ones; persistent large bodies that were
// confirmed survive kill -9. No timing is asserted; rates are only printed.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Channel, ConfirmChannel } from 'amqplib';
import { resources } from '../helpers/resources.js';
import { sampleRss } from '../helpers/process-memory.js';
import { waitUntil } from '../helpers/async.js';

const MiB = 1024 * 1024;
const res = resources();


/** Body i: its index in the first 4 bytes, then one byte value throughout (checked at both ends). */
const bodyOf = (i: number, size: number): Buffer => {
  const b = Buffer.alloc(size, i % 251);
  b.writeUInt32BE(i, 0);
  return b;
};
const intact = (b: Buffer, i: number, size: number): boolean =>
  b.length === size && b.readUInt32BE(0) === i && b[4] === i % 251 && b[size - 1] === i % 251 && b[size >> 1] === i % 251;

async function publish(ch: ConfirmChannel, q: string, count: number, size: (i: number) => number, persistent: (i: number) => boolean): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!ch.sendToQueue(q, bodyOf(i, size(i)), { persistent: persistent(i) })) await new Promise((r) => ch.once('drain', r));
    if (i % 50 === 49) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
}

/** Consumes count messages; returns the indices seen in order and how many were not intact. */
async function drain(ch: Channel, q: string, count: number, size: (i: number) => number): Promise<{ order: number[]; broken: number; redelivered: number }> {
  await ch.prefetch(16);
  const order: number[] = [];
  let broken = 0;
  let redelivered = 0;
  await new Promise<void>((resolve) => {
    void ch.consume(q, (m) => {
      if (!m) return;
      const i = m.content.readUInt32BE(0);
      if (!intact(m.content, i, size(i))) broken++;
      if (m.fields.redelivered) redelivered++;
      order.push(i);
      ch.ack(m);
      if (order.length === count) resolve();
    });
  });
  return { order, broken, redelivered };
}

describe('large messages', () => {
  it('a flood of 1 MiB bodies with no consumer stays under the memory watermark, is never blocked, then is consumed whole and in order', async () => {
    const COUNT = 400; // 400 MiB, past the watermark
    const WATERMARK = 300 * 1000 * 1000;
    const dir = await res.tempDir('warren-large-flood-');
    const b = await res.broker(dir, ['--memory-high-watermark', String(WATERMARK), '--page-out-bytes', String(32 * MiB)]);
    const pid = b.proc.pid!;
    const rss = sampleRss(pid, 25);
    res.defer(async () => rss.stop());
    const conn = await res.connect(b.port);
    let blocked = 0;
    conn.on('blocked', () => blocked++);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('flood', { durable: false });
    const t0 = performance.now();
    await publish(ch, 'flood', COUNT, () => MiB, () => false);
    const fillMs = performance.now() - t0;
    expect(blocked).toBe(0);
    expect((await ch.checkQueue('flood')).messageCount).toBe(COUNT);
    // The overflow is in the page file, not in memory (nor in LevelDB).
    expect(readdirSync(join(dir, 'pages')).length).toBeGreaterThan(0);

    const rx = await conn.createChannel();
    const t1 = performance.now();
    const got = await drain(rx, 'flood', COUNT, () => MiB);
    const drainMs = performance.now() - t1;
    rss.stop();
    console.log(
      `[large-messages] ${COUNT} x 1 MiB: filled at ${((COUNT * 1000) / fillMs).toFixed(0)} msgs/s, drained at ${((COUNT * 1000) / drainMs).toFixed(0)} msgs/s; peak RSS ${(rss.peak / MiB).toFixed(0)} MiB, watermark ${(WATERMARK / MiB).toFixed(0)} MiB`,
    );
    expect(got.broken).toBe(0);
    expect(got.order).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    expect(rss.peak).toBeLessThan(WATERMARK);
    // Everything read back: the page files are gone.
    expect(readdirSync(join(dir, 'pages'))).toEqual([]);
  }, 240_000);

  it('transient bodies paged on a durable queue come back in order among its persistent ones; a restart keeps only the persistent ones', async () => {
    const COUNT = 120;
    const size = (i: number): number => (i % 3 === 0 ? 300 * 1024 : 64 * 1024 + i);
    const persistent = (i: number): boolean => i % 2 === 0;
    const dir = await res.tempDir('warren-large-mixed-');
    let b = await res.broker(dir, ['--page-out-bytes', String(2 * MiB)]);
    let conn = await res.connect(b.port);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('mixed', { durable: true });
    await publish(ch, 'mixed', COUNT, size, persistent);
    const rx = await conn.createChannel();
    // The first half now, in order across memory, segments and the page file.
    await rx.prefetch(1);
    const firstHalf: number[] = [];
    let broken = 0;
    for (let i = 0; i < COUNT / 2; i++) {
      const m = await rx.get('mixed', { noAck: false });
      if (!m) throw new Error('queue ran dry');
      const k = m.content.readUInt32BE(0);
      if (!intact(m.content, k, size(k))) broken++;
      firstHalf.push(k);
      rx.ack(m);
    }
    expect(broken).toBe(0);
    expect(firstHalf).toEqual(Array.from({ length: COUNT / 2 }, (_, i) => i));
    expect(await b.stop()).toBe(0);

    b = await res.broker(dir, ['--page-out-bytes', String(2 * MiB)]);
    conn = await res.connect(b.port);
    const again = await conn.createChannel();
    const rest = Array.from({ length: COUNT / 2 }, (_, i) => i + COUNT / 2).filter(persistent);
    expect((await again.checkQueue('mixed')).messageCount).toBe(rest.length);
    const got = await drain(again, 'mixed', rest.length, size);
    expect(got.broken).toBe(0);
    expect(got.order).toEqual(rest);
  }, 120_000);

  it('persistent 1 MiB and 64 KiB bodies survive kill -9 once confirmed, byte for byte and in order', async () => {
    const COUNT = 160;
    const size = (i: number): number => (i % 4 === 0 ? MiB : 64 * 1024);
    const dir = await res.tempDir('warren-large-kill-');
    let b = await res.broker(dir);
    let conn = await res.connect(b.port);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('big-durable', { durable: true });
    await publish(ch, 'big-durable', COUNT, size, () => true);
    await b.kill9();

    b = await res.broker(dir);
    conn = await res.connect(b.port);
    const rx = await conn.createChannel();
    expect((await rx.checkQueue('big-durable')).messageCount).toBe(COUNT);
    const got = await drain(rx, 'big-durable', COUNT, size);
    expect(got.broken).toBe(0);
    expect(got.order).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    expect(got.redelivered).toBe(COUNT); // after a crash each may have been delivered
  }, 120_000);

  it('kill -9 while large bodies in body files are acked from one queue and kept in another: nothing confirmed is lost, and the files go once all is acked', async () => {
    const COUNT = 240;
    const sizes = [20 * 1024, 64 * 1024, 300 * 1024, 100];
    const size = (i: number): number => sizes[i % sizes.length]!;
    const dir = await res.tempDir('warren-large-acks-');
    let b = await res.broker(dir);
    let conn = await res.connect(b.port);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange('bigfan', 'fanout', { durable: true });
    for (const q of ['big-a', 'big-b']) {
      await ch.assertQueue(q, { durable: true });
      await ch.bindQueue(q, 'bigfan', '');
    }
    const acked = new Set<number>();
    // A delivery's ack timer may fire after the kill: amqplib throws on a closed channel's ack.
    let killed = false;
    const rx = await conn.createChannel();
    // Slow on purpose: the kill comes while big-a is part acked (about 200 acks a second).
    await rx.prefetch(1);
    await rx.consume('big-a', (m) => {
      if (!m) return;
      setTimeout(() => {
        if (killed) return;
        acked.add(m.content.readUInt32BE(0));
        rx.ack(m);
      }, 5);
    });
    for (let i = 0; i < COUNT; i++) {
      if (!ch.publish('bigfan', '', bodyOf(i, size(i)), { persistent: true })) await new Promise((r) => ch.once('drain', r));
      if (i % 40 === 39) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    await waitUntil(() => acked.size >= COUNT / 4, 'a quarter of big-a acked', 30_000);
    expect(acked.size).toBeLessThan(COUNT);
    killed = true;
    await b.kill9();
    const ackedBeforeKill = new Set(acked);

    b = await res.broker(dir);
    conn = await res.connect(b.port);
    const again = await conn.createChannel();
    // big-b: every message, whole and in order.
    const all = await drain(again, 'big-b', COUNT, size);
    expect(all.broken).toBe(0);
    expect(all.order).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    // big-a: every message not acked before the kill (an acked one may come back, whole).
    const left = (await again.checkQueue('big-a')).messageCount;
    expect(left).toBeGreaterThan(0);
    const a = await drain(again, 'big-a', left, size);
    expect(a.broken).toBe(0);
    const missing = Array.from({ length: COUNT }, (_, i) => i).filter((i) => !ackedBeforeKill.has(i) && !a.order.includes(i));
    expect(missing).toEqual([]);
    // Everything acked now: no segment refers to a body file any more, so every file goes.
    await waitUntil(() => readdirSync(join(dir, 'bodies')).length === 0, 'every body file deleted', 15_000);
  }, 120_000);
});
