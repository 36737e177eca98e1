// Publisher flow control: a publisher flooding a queue that has a consumer is paused while the
// backlog is past BACKLOG_HIGH, so deliveries are not starved; without consumers the queue grows.
import amqp from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKLOG_HIGH } from '../../src/server/queue.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(() => broker.close());

const TOTAL = BACKLOG_HIGH * 3;

async function flood(ch: amqp.Channel, q: string): Promise<void> {
  const body = Buffer.alloc(16);
  for (let i = 0; i < TOTAL; i++) {
    body.writeUInt32BE(i);
    if (!ch.sendToQueue(q, Buffer.from(body))) await new Promise((r) => ch.once('drain', r));
  }
}

it('keeps the backlog of a consumed queue near BACKLOG_HIGH, and delivers everything in order', async () => {
  const conn = await amqp.connect(`amqp://127.0.0.1:${broker.port}`);
  const sub = await conn.createChannel();
  const pubConn = await amqp.connect(`amqp://127.0.0.1:${broker.port}`);
  const pub = await pubConn.createChannel();
  const q = (await sub.assertQueue('flow-consumed', { exclusive: false })).queue;
  const queue = broker.broker.vhosts.get('/')!.queues.get(q)!;
  let maxReady = 0;
  const sampler = setInterval(() => (maxReady = Math.max(maxReady, queue.ready.length)), 5);
  await sub.prefetch(500);
  let next = 0;
  let outOfOrder = 0;
  const done = new Promise<void>((resolve) => {
    void sub.consume(q, (m) => {
      if (!m) return;
      if (m.content.readUInt32BE(0) !== next) outOfOrder++;
      next++;
      // A consumer slower than the publisher: it acks in batches, after a pause.
      if (next % 100 === 0) setTimeout(() => sub.ack(m, true), 2);
      if (next === TOTAL) resolve();
    });
  });
  await flood(pub, q);
  await done;
  clearInterval(sampler);
  expect(outOfOrder).toBe(0);
  // Past the mark the publisher is paused after the read in progress, so a little overshoot.
  expect(maxReady).toBeGreaterThan(0);
  expect(maxReady).toBeLessThan(BACKLOG_HIGH + 20_000);
  await pubConn.close();
  await conn.close();
});

it('lets a queue without consumers grow past BACKLOG_HIGH', async () => {
  const pubConn = await amqp.connect(`amqp://127.0.0.1:${broker.port}`);
  const pub = await pubConn.createChannel();
  const q = (await pub.assertQueue('flow-unconsumed')).queue;
  await flood(pub, q);
  await new Promise((r) => setTimeout(r, 100));
  expect((await pub.checkQueue(q)).messageCount).toBe(TOTAL);
  await pubConn.close();
});

it('never deadlocks a connection that both floods a queue and consumes from it', async () => {
  const conn = await amqp.connect(`amqp://127.0.0.1:${broker.port}`);
  const sub = await conn.createChannel();
  const pub = await conn.createChannel();
  const q = (await sub.assertQueue('flow-same-connection')).queue;
  await sub.prefetch(100);
  let got = 0;
  const done = new Promise<void>((resolve) => {
    void sub.consume(q, (m) => {
      if (!m) return;
      sub.ack(m);
      if (++got === TOTAL) resolve();
    });
  });
  await flood(pub, q);
  await done;
  expect(got).toBe(TOTAL);
  await conn.close();
}, 120_000);

it('counts bytes too: a flood of large bodies to a consumed queue is held under half the page-out bytes, so nothing is paged', async () => {
  // Paging on (a data directory), 4 MiB of page-out bytes: the publisher is paused past 2 MiB of
  // ready bodies. Without the byte mark, 256 KiB bodies would never reach BACKLOG_HIGH messages,
  // and everything the consumer had not taken yet would go through the store.
  const dir = await mkdtemp(join(tmpdir(), 'warren-flow-bytes-'));
  const paged = await startBroker({ dataDir: dir, pageOutBytes: 4 * 1024 * 1024 });
  try {
    const conn = await amqp.connect(`amqp://127.0.0.1:${paged.port}`);
    const sub = await conn.createChannel();
    const pubConn = await amqp.connect(`amqp://127.0.0.1:${paged.port}`);
    const pub = await pubConn.createChannel();
    const q = (await sub.assertQueue('flow-bytes', { durable: false })).queue;
    const queue = paged.broker.vhosts.get('/')!.queues.get(q)!;
    const COUNT = 400; // 100 MiB
    const SIZE = 256 * 1024;
    let maxPaged = 0;
    const sampler = setInterval(() => (maxPaged = Math.max(maxPaged, queue.pagedOut.count)), 5);
    await sub.prefetch(8);
    let next = 0;
    let wrong = 0;
    const done = new Promise<void>((resolve) => {
      void sub.consume(q, (m) => {
        if (!m) return;
        if (m.content.length !== SIZE || m.content.readUInt32BE(0) !== next || m.content[SIZE - 1] !== next % 251) wrong++;
        next++;
        const last = next === COUNT;
        // A consumer slower than the publisher; done once the last ack is sent (closing before it
        // would make that ack throw in its timer).
        setTimeout(() => {
          sub.ack(m);
          if (last) resolve();
        }, 1);
      });
    });
    for (let i = 0; i < COUNT; i++) {
      const body = Buffer.alloc(SIZE, i % 251);
      body.writeUInt32BE(i, 0);
      if (!pub.sendToQueue(q, body)) await new Promise((r) => pub.once('drain', r));
    }
    await done;
    clearInterval(sampler);
    expect(wrong).toBe(0);
    expect(maxPaged).toBe(0);
    await pubConn.close();
    await conn.close();
  } finally {
    await paged.close();
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);
