// Priority queues page too (RabbitMQ 3.10 keeps one backing queue per level, each paging apart):
// past a small in-memory limit each level's newer messages wait in the store, under a range of
// their own, and come back a page at a time, highest level first. Driven with amqplib against an
// in-process broker whose limits are tiny (100 messages, 64 KiB), then against broker processes
// for kill -9 and for memory.
import { describe, expect, it } from 'vitest';
import type { Channel, ChannelModel, ConfirmChannel, Options } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { LevelStore } from '../../src/store/level-store.js';
import { resources } from '../helpers/resources.js';
import { sampleRss } from '../helpers/process-memory.js';
import { consumeAll, consumeN as consume } from '../helpers/channels.js';
import { waitUntil } from '../helpers/async.js';
import { startPy } from '../helpers/pika-process.js';

const LIMIT = 100;
const MAX = 9;
const res = resources();
const tempDir = (): Promise<string> => res.tempDir('warren-prio-paging-');

async function start(dataDir: string, pageOutMessages = LIMIT): Promise<RunningBroker> {
  const b = await startBroker({ dataDir, pageOutMessages, pageOutBytes: 64 * 1024 });
  res.defer(() => b.close());
  return b;
}

async function open(b: RunningBroker | number): Promise<{ conn: ChannelModel; ch: ConfirmChannel }> {
  const conn = await res.connect(typeof b === 'number' ? b : b.port);
  const ch = await conn.createConfirmChannel();
  return { conn, ch };
}

const declare = (ch: Channel, queue: string, durable: boolean): Promise<unknown> =>
  ch.assertQueue(queue, { durable, arguments: { 'x-max-priority': MAX } });

/** Body i with priority prio(i); waits for the confirms. */
async function publish(ch: ConfirmChannel, queue: string, n: number, prio: (i: number) => number, opts: (i: number) => Options.Publish = () => ({}), from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) ch.sendToQueue(queue, Buffer.from(String(i)), { priority: prio(i), ...opts(i) });
  await ch.waitForConfirms();
}

/** The order RabbitMQ delivers a backlog in: level (priority capped at MAX) down, then arrival. */
function expected(ids: number[], prio: (i: number) => number): string[] {
  const level = (i: number): number => Math.min(prio(i), MAX);
  return [...ids].sort((a, b) => level(b) - level(a) || a - b).map(String);
}

const ids = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const pagedOut = (b: RunningBroker, queue: string): number => b.broker.vhost('/').queues.get(queue)!.pagedOut.count;
/** Priorities 0..11 in turn: 10 and 11 are past x-max-priority and go to its level. */
const mixed = (i: number): number => (i * 7) % 12;

describe('paging priority queues to the store', () => {
  it('keeps each level mostly on disk and delivers highest priority first, each level in arrival order', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await declare(ch, 'prio-long', false);
    await publish(ch, 'prio-long', 3000, mixed);
    // At most a message per level past the limit stays in memory.
    expect(pagedOut(b, 'prio-long')).toBeGreaterThanOrEqual(3000 - LIMIT - (MAX + 1));
    expect((await ch.checkQueue('prio-long')).messageCount).toBe(3000);
    expect(await consume(ch, 'prio-long', 3000)).toEqual(expected(ids(3000), mixed));
    expect(pagedOut(b, 'prio-long')).toBe(0);
  });

  it('a higher priority published while lower ones wait on disk goes out next', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await declare(ch, 'prio-overtake', false);
    await publish(ch, 'prio-overtake', 1000, () => 0);
    const rx = await (await res.connect(b.port)).createChannel();
    await rx.prefetch(1);
    const got: string[] = [];
    let published = false;
    await new Promise<void>((resolve) => {
      void rx.consume('prio-overtake', (m) => {
        if (!m) return;
        got.push(m.content.toString());
        if (got.length === 300 && !published) {
          published = true;
          // 300 more, at level 5: every one of them before the 700 level-0 messages left.
          void publish(ch, 'prio-overtake', 300, () => 5, () => ({}), 1000).then(() => rx.ack(m));
          return;
        }
        rx.ack(m);
        if (got.length === 1300) resolve();
      });
    });
    expect(got).toEqual([...ids(300), ...ids(300, 1000), ...ids(700, 300)].map(String));
  });

  it('answers basic.get from a level whose head is still on disk, in order', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await declare(ch, 'prio-get', false);
    // 150 at level 0 fill memory; then 150 at level 5 (its first in memory, the rest paged).
    const prio = (i: number): number => (i < 150 ? 0 : 5);
    await publish(ch, 'prio-get', 300, prio);
    expect(pagedOut(b, 'prio-get')).toBeGreaterThan(150);
    const got: string[] = [];
    for (;;) {
      const m = await ch.get('prio-get', { noAck: true });
      if (m === false) break;
      got.push(m.content.toString());
      expect(m.fields.messageCount).toBe(300 - got.length);
    }
    expect(got).toEqual(expected(ids(300), prio));
  });

  it('keeps persistent messages of a durable priority queue across restarts, in order, and drops transient ones', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await declare(ch, 'prio-durable', true);
    await publish(ch, 'prio-durable', 2000, mixed, (i) => ({ persistent: i % 2 === 0 }));
    expect(pagedOut(b, 'prio-durable')).toBeGreaterThan(1000);
    await b.close();

    b = await start(dir);
    ({ ch } = await open(b));
    expect((await ch.checkQueue('prio-durable')).messageCount).toBe(1000);
    // Recovery reads the highest levels into memory and leaves the rest in the store.
    expect(pagedOut(b, 'prio-durable')).toBeGreaterThan(800);
    const persistent = ids(2000).filter((i) => i % 2 === 0);
    // Half now: the rest must still be there, in order, after another restart.
    expect(await consume(ch, 'prio-durable', 500)).toEqual(expected(persistent, mixed).slice(0, 500));
    await b.close();
    b = await start(dir);
    ({ ch } = await open(b));
    expect(await consume(ch, 'prio-durable', 500)).toEqual(expected(persistent, mixed).slice(500));
    expect(await ch.get('prio-durable')).toBe(false);
  });

  it('a broker that does not page keeps a priority queue in memory and its levels across a restart, paged before or not', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await declare(ch, 'prio-unpaged', true);
    await publish(ch, 'prio-unpaged', 400, mixed, () => ({ persistent: true }));
    expect(pagedOut(b, 'prio-unpaged')).toBeGreaterThan(0);
    await b.close();
    // Paging off (page-out 0): all of it read into memory, then more published, and back again.
    b = await start(dir, 0);
    ({ ch } = await open(b));
    await publish(ch, 'prio-unpaged', 200, mixed, () => ({ persistent: true }), 400);
    expect(pagedOut(b, 'prio-unpaged')).toBe(0);
    await b.close();
    b = await start(dir);
    ({ ch } = await open(b));
    expect(await consume(ch, 'prio-unpaged', 600)).toEqual(expected(ids(600), mixed));
  });

  it('purges and deletes every level: nothing comes back after a restart', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await declare(ch, 'prio-purged', true);
    await declare(ch, 'prio-deleted', true);
    await publish(ch, 'prio-purged', 800, mixed, (i) => ({ persistent: i % 3 !== 0 }));
    await publish(ch, 'prio-deleted', 800, mixed, () => ({ persistent: true }));
    expect((await ch.purgeQueue('prio-purged')).messageCount).toBe(800);
    expect((await ch.deleteQueue('prio-deleted')).messageCount).toBe(800);
    await declare(ch, 'prio-deleted', true);
    await publish(ch, 'prio-purged', 300, mixed, () => ({ persistent: true }), 1000);
    await publish(ch, 'prio-deleted', 5, () => 1, () => ({ persistent: true }));
    await b.close();
    b = await start(dir);
    ({ ch } = await open(b));
    expect(await consume(ch, 'prio-purged', 300)).toEqual(expected(ids(300, 1000), mixed));
    expect(await consume(ch, 'prio-deleted', 5)).toEqual(ids(5).map(String));
  });

  it('x-max-length drops from the head across the levels on disk: the messages delivered last are what remains', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await ch.assertQueue('prio-capped', { durable: false, maxLength: 500, arguments: { 'x-max-priority': MAX } });
    await publish(ch, 'prio-capped', 2000, mixed);
    // A head on disk is dropped once it is read back (as a FIFO queue's): the length comes down to
    // the limit a few reads later, not at each publish as in RabbitMQ.
    await waitUntil(async () => (await ch.checkQueue('prio-capped')).messageCount === 500, 'the queue down to its limit');
    const got = await consume(ch, 'prio-capped', 500);
    expect(got).toEqual(expected(got.map(Number), mixed));
    expect(pagedOut(b, 'prio-capped')).toBe(0);
  });

  it('messages with a TTL expire on reaching the head, paged or not, and are dead-lettered, every one', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await ch.assertQueue('prio-dead', { durable: false });
    await ch.assertQueue('prio-ttl', { durable: false, messageTtl: 300, deadLetterExchange: '', deadLetterRoutingKey: 'prio-dead', arguments: { 'x-max-priority': MAX } });
    await publish(ch, 'prio-ttl', 700, mixed);
    expect(pagedOut(b, 'prio-ttl')).toBeGreaterThan(0);
    const dead = await consume(ch, 'prio-dead', 700);
    expect([...dead].sort((x, y) => Number(x) - Number(y))).toEqual(ids(700).map(String));
    expect((await ch.checkQueue('prio-ttl')).messageCount).toBe(0);
  });

  it('requeued messages go back ahead of their level’s paged ones', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await declare(ch, 'prio-requeue', false);
    await publish(ch, 'prio-requeue', 600, mixed);
    const rx = await (await res.connect(b.port)).createChannel();
    await rx.prefetch(50);
    // Take 50, requeue them all: the queue's order is the same as before.
    await new Promise<void>((resolve) => {
      let n = 0;
      void rx.consume('prio-requeue', (m) => {
        if (!m || ++n < 50) return;
        rx.nackAll(true);
        void rx.cancel(m.fields.consumerTag).then(() => resolve());
      });
    });
    expect(await consume(rx, 'prio-requeue', 600)).toEqual(expected(ids(600), mixed));
  });

  it('reads what an earlier version kept under the queue’s own name, and acks it there', async () => {
    const dir = await tempDir();
    // Before this version a priority queue stayed in memory and kept every level under its own
    // name: the same layout a store that cannot keep levels apart makes now.
    class EarlierLayout extends LevelStore {
      override readonly keepsLevelsApart = false;
    }
    let b = await startBroker({ dataDir: dir, store: new EarlierLayout(dir), pageOutMessages: LIMIT, pageOutBytes: 64 * 1024 });
    let { ch } = await open(b);
    await declare(ch, 'prio-old', true);
    await publish(ch, 'prio-old', 500, mixed, () => ({ persistent: true }));
    expect(pagedOut(b, 'prio-old')).toBe(0);
    await b.close();

    b = await start(dir);
    ({ ch } = await open(b));
    // New messages go to the levels' ranges, and page; the old ones are delivered among them.
    await publish(ch, 'prio-old', 500, mixed, () => ({ persistent: true }), 500);
    expect(pagedOut(b, 'prio-old')).toBeGreaterThan(300);
    const all = expected(ids(1000), mixed);
    expect(await consume(ch, 'prio-old', 600)).toEqual(all.slice(0, 600));
    await b.close();
    // The acks of old messages went to where they are: none of the 600 comes back.
    b = await start(dir);
    ({ ch } = await open(b));
    expect((await ch.checkQueue('prio-old')).messageCount).toBe(400);
    expect(await consume(ch, 'prio-old', 400)).toEqual(all.slice(600));
  });
});

describe('paging priority queues, with pika', () => {
  it('a pika publisher and consumer see priority order through a queue paged by level', async () => {
    const b = await start(await tempDir());
    const py = startPy('priority_backlog.py', ['--port', String(b.port), '--count', '600', '--max-priority', '5']);
    await py.waitFor((e) => e.event === 'published', 30_000, 'the publishes');
    const done = await py.waitFor((e) => e.event === 'consumed', 30_000, 'the drain');
    expect((await py.finish()).code).toBe(0);
    const level = (i: number): number => Math.min(i % 7, 5);
    const want = ids(600).sort((x, y) => level(y) - level(x) || x - y);
    expect(done.order).toEqual(want);
    // It paged: the queue held 600 with 100 in memory.
    expect(b.broker.vhost('/').queues.get('pika-prio')!.diskWrites).toBeGreaterThan(400);
  });
});

const MiB = 1024 * 1024;


describe('paging priority queues, broker processes', () => {
  it('loses no confirmed message of a paged durable priority queue to kill -9, and delivers them in order, flagged redelivered', async () => {
    const dir = await res.tempDir('warren-prio-kill-');
    let b = await res.broker(dir, ['--page-out-messages', '50']);
    const { ch } = await open(b.port);
    await declare(ch, 'prio-crash', true);
    await publish(ch, 'prio-crash', 2000, mixed, () => ({ persistent: true }));
    await b.kill9();

    b = await res.broker(dir, ['--page-out-messages', '50']);
    const rx = await (await res.connect(b.port)).createChannel();
    expect((await rx.checkQueue('prio-crash')).messageCount).toBe(2000);
    await rx.prefetch(100);
    const { bodies: got, notRedelivered } = await consumeAll(rx, 'prio-crash', 2000);
    expect(got).toEqual(expected(ids(2000), mixed));
    expect(notRedelivered).toBe(0);
  });

  it('confirms a priority backlog twice the memory watermark without blocking, under the RSS bound, and delivers it in order', async () => {
    // As paging-memory.test.ts's FIFO queue: 320 MiB of 8 KiB bodies behind a 150 MB watermark,
    // spread over ten levels. Before, a priority queue kept every message in memory.
    const BODY = 8 * 1024;
    const COUNT = 40_000;
    const dir = await res.tempDir('warren-prio-mem-');
    const b = await res.broker(dir, ['--memory-high-watermark', String(150 * 1000 * 1000), '--page-out-bytes', String(16 * MiB)]);
    const pid = b.proc.pid!;
    const rss = sampleRss(pid, 50);
    res.defer(async () => rss.stop());
    const conn = await res.connect(b.port);
    let blocked = 0;
    conn.on('blocked', () => blocked++);
    const ch = await conn.createConfirmChannel();
    await declare(ch, 'prio-backlog', false);
    const prio = (i: number): number => i % 10;
    const bodyOf = (i: number): Buffer => {
      const body = Buffer.alloc(BODY, i % 251);
      body.writeUInt32BE(i, 0);
      return body;
    };
    for (let i = 0; i < COUNT; i++) {
      if (!ch.sendToQueue('prio-backlog', bodyOf(i), { priority: prio(i) })) await new Promise((r) => ch.once('drain', r));
      if (i % 2000 === 1999) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    expect(blocked).toBe(0);
    const order = expected(ids(COUNT), prio).map(Number);
    await ch.prefetch(200);
    let next = 0;
    let wrong = 0;
    await new Promise<void>((resolve) => {
      void ch.consume('prio-backlog', (m) => {
        if (!m) return;
        if (!m.content.equals(bodyOf(order[next]!))) wrong++;
        next++;
        ch.ack(m);
        if (next === COUNT) resolve();
      });
    });
    rss.stop();
    console.log(`[priority-paging] peak RSS ${(rss.peak / MiB).toFixed(0)} MiB for ${(COUNT * BODY) / MiB} MiB of bodies`);
    expect(wrong).toBe(0);
    expect(rss.peak).toBeLessThan(320 * MiB);
  });
});
