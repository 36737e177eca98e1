// Large persistent bodies on their way to consumers: the store's write may wait for their acks,
// which cancel it (src/store/write-hold.ts), as RabbitMQ's message store skips the writes of
// messages removed before it got to them. A confirm still means written or acked by every queue.
// Real amqplib over TCP; bodies appended to the body files are counted by a spy on the store.
import { describe, expect, it } from 'vitest';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { LevelStore } from '../../src/store/level-store.js';
import { bodyLength, type Body } from '../../src/frames/body.js';
import { waitUntil } from '../helpers/async.js';
import { resources } from '../helpers/resources.js';

const res = resources();
const KiB = 1024;
const SIZE = 64 * KiB;

const bodyOf = (i: number): Buffer => {
  const b = Buffer.alloc(SIZE, i % 251);
  b.writeUInt32BE(i, 0);
  return b;
};

/** An in-process broker on a fresh directory; counts the body bytes its store writes to body files. */
async function start(store?: (dir: string) => LevelStore): Promise<{ b: RunningBroker; written: () => number }> {
  const dir = await res.tempDir('warren-ack-hold-');
  const b = await startBroker({ dataDir: dir, logLevel: 'silent', ...(store ? { store: store(dir) } : {}) });
  res.defer(() => b.close());
  const files = (b.broker.store as unknown as { bodies: { append: (body: Body) => unknown } }).bodies;
  const append = files.append.bind(files);
  let n = 0;
  files.append = (body) => {
    n += bodyLength(body);
    return append(body);
  };
  return { b, written: () => n };
}

/** Publishes bodies from..to-1 persistent, waiting for the confirms every `window` publishes. */
async function publish(ch: ConfirmChannel, q: string, from: number, to: number, window: number): Promise<void> {
  for (let i = from; i < to; i++) {
    if (!ch.sendToQueue(q, bodyOf(i), { persistent: true })) await new Promise((r) => ch.once('drain', r));
    if ((i - from) % window === window - 1) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
}

/** Collects deliveries; acks each at once when ack is set. */
async function consume(ch: Channel, q: string, ack: boolean): Promise<ConsumeMessage[]> {
  const got: ConsumeMessage[] = [];
  await ch.consume(q, (m) => {
    if (!m) return;
    got.push(m);
    if (ack) ch.ack(m);
  });
  return got;
}

/** A confirm channel and a durable queue 'held' with a consumer on a channel of its own. */
async function openHeld(port: number, prefetch: number, ack: boolean): Promise<{ ch: ConfirmChannel; rx: Channel; got: ConsumeMessage[] }> {
  const conn = await res.connect(port);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('held', { durable: true });
  const rx = await conn.createChannel();
  await rx.prefetch(prefetch);
  return { ch, rx, got: await consume(rx, 'held', ack) };
}

describe('large persistent bodies with consumers', () => {
  it('are not written when a consumer that keeps up acks them, and every publish is confirmed', async () => {
    const { b, written } = await start();
    const { ch, got } = await openHeld(b.port, 100, true);
    const COUNT = 300;
    await publish(ch, 'held', 0, COUNT, 50);
    await waitUntil(() => got.length === COUNT, 'every message consumed');
    expect(got.map((m) => m.content.readUInt32BE(0))).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    // Written at once, every body would be: at most the first publishes (before the publisher
    // showed a window) and a stray few. 49-51 of 300 alone; 81 once in a full suite run, whose
    // load delays the consumer's acks past some holds: the bound is half.
    console.log(`ack hold: ${written() / SIZE} of ${COUNT} bodies written`);
    expect(written()).toBeLessThan((COUNT * SIZE) / 2);
  }, 60_000);

  it('hold their confirms until the write or the acks, and never for a publisher waiting on each confirm', async () => {
    // A wait for acks lasts a minute here: any confirm it held would time the test out.
    const { b, written } = await start((dir) => new LevelStore(dir, { ackHoldMs: 60_000 }));
    const { ch, rx, got } = await openHeld(b.port, 1000, false);

    // One at a time, each confirm awaited: written at once, though the consumer holds them.
    for (let i = 0; i < 3; i++) await publish(ch, 'held', i, i + 1, 1);
    expect(written()).toBe(3 * SIZE);

    // The publisher shows a window: 20 unconfirmed at once (to a queue nobody consumes, written
    // at once). Its next 10 to the consumer's queue are held, not written, not confirmed, until
    // the consumer acks them.
    await ch.assertQueue('unconsumed', { durable: true });
    await publish(ch, 'unconsumed', 0, 20, 20);
    const writtenBefore = written();
    expect(writtenBefore).toBe(23 * SIZE);
    let confirmed = 0;
    for (let i = 3; i < 13; i++) ch.sendToQueue('held', bodyOf(i), { persistent: true }, (err) => !err && confirmed++);
    await waitUntil(() => got.length === 13, 'every message delivered');
    await new Promise((r) => setTimeout(r, 300));
    expect(confirmed).toBe(0);
    expect(written()).toBe(writtenBefore);
    for (const m of got.slice(3)) rx.ack(m);
    await waitUntil(() => confirmed === 10, 'the acks confirm the 10');
    expect(written()).toBe(writtenBefore);
    rx.ackAll();
  }, 30_000);

  it('survive kill -9 once confirmed while a consumer holds them unacked', async () => {
    const dir = await res.tempDir('warren-ack-hold-kill-');
    let b = await res.broker(dir);
    const { ch, got } = await openHeld(b.port, 1000, false);
    const COUNT = 100;
    await publish(ch, 'held', 0, COUNT, 20);
    await waitUntil(() => got.length === COUNT, 'every message delivered');
    await b.kill9();

    b = await res.broker(dir);
    const again = await (await res.connect(b.port)).createChannel();
    expect((await again.checkQueue('held')).messageCount).toBe(COUNT);
    const back = await consume(again, 'held', true);
    await waitUntil(() => back.length === COUNT, 'every message back');
    expect(back.map((m) => m.content.readUInt32BE(0))).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    expect(back.every((m) => m.content.equals(bodyOf(m.content.readUInt32BE(0))))).toBe(true);
  }, 60_000);
});
