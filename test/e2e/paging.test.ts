// Long queues page to the store (RabbitMQ's lazy-queue behaviour): past a small in-memory limit,
// newer messages wait in LevelDB and come back a page at a time. Driven with amqplib against an
// in-process broker whose limits are tiny (100 messages, 64 KiB), so every test crosses the
// boundary between memory and store many times.
import { describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { pino } from 'pino';
import { apiClient } from '../helpers/management-client.js';
import { resources } from '../helpers/resources.js';
import { waitUntil } from '../helpers/async.js';
import { LevelStore } from '../../src/store/level-store.js';
import type { ReadMessage } from '../../src/store/store.js';
import { PAGE_READ_MESSAGES } from '../../src/server/paged-tail.js';
import { consumeN as consume } from '../helpers/channels.js';

const LIMIT = 100;
const res = resources();
const tempDir = (): Promise<string> => res.tempDir('warren-paging-');

async function start(dataDir: string, managementPort = 0): Promise<RunningBroker> {
  const b = await startBroker({ dataDir, pageOutMessages: LIMIT, pageOutBytes: 64 * 1024, managementPort });
  res.defer(() => b.close());
  return b;
}

async function open(b: RunningBroker): Promise<{ conn: ChannelModel; ch: ConfirmChannel }> {
  const conn = await res.connect(b.port);
  const ch = await conn.createConfirmChannel();
  return { conn, ch };
}

/** Publishes bodies '0'..'n-1' (with an optional per-message property) and waits for the confirms. */
async function publish(ch: ConfirmChannel, queue: string, n: number, opts: (i: number) => amqp.Options.Publish = () => ({})): Promise<void> {
  for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(String(i)), opts(i));
  await ch.waitForConfirms();
}

const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, i) => String(from + i));

const pagedOut = (b: RunningBroker, queue: string): number => b.broker.vhost('/').queues.get(queue)!.pagedOut.count;

describe('paging long queues to the store', () => {
  it('keeps only the head in memory and delivers every message in order', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await ch.assertQueue('long', { durable: false });
    await publish(ch, 'long', 3000);
    expect(pagedOut(b, 'long')).toBe(3000 - LIMIT);
    expect((await ch.checkQueue('long')).messageCount).toBe(3000);
    expect(await consume(ch, 'long', 3000)).toEqual(range(0, 3000));
    expect((await ch.checkQueue('long')).messageCount).toBe(0);
    expect(pagedOut(b, 'long')).toBe(0);
  });

  it('keeps persistent messages of a durable queue across a restart, paged or not, and drops transient ones', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await ch.assertQueue('durable-long', { durable: true });
    // Even bodies persistent, odd ones transient.
    await publish(ch, 'durable-long', 1000, (i) => ({ persistent: i % 2 === 0 }));
    expect(pagedOut(b, 'durable-long')).toBe(1000 - LIMIT);
    await b.close();

    b = await start(dir);
    ({ ch } = await open(b));
    expect((await ch.checkQueue('durable-long')).messageCount).toBe(500);
    // Recovery keeps the head in memory and leaves the rest in the store.
    expect(pagedOut(b, 'durable-long')).toBe(500 - LIMIT);
    expect(await consume(ch, 'durable-long', 500)).toEqual(range(0, 1000).filter((s) => Number(s) % 2 === 0));
  });

  it('a clean restart reads none of a long queue before it listens; its head comes in once it does', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await ch.assertQueue('lazy-restart', { durable: true });
    await publish(ch, 'lazy-restart', 1000, () => ({ persistent: true }));
    await b.close();

    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    b = await startBroker({ dataDir: dir, pageOutMessages: LIMIT, pageOutBytes: 64 * 1024, logger });
    res.defer(() => b.close());
    // The shutdown's totals stand for the whole queue: nothing of it was read to start.
    expect(lines.find((l) => l.msg === 'recovered durable queues')).toMatchObject({ messages: 1000, inMemory: 0, clean: true });
    // With nobody asking, the head is read once the broker listens (expiries and limits need it).
    await waitUntil(() => pagedOut(b, 'lazy-restart') === 1000 - LIMIT, 'the head read after the restart');
    ({ ch } = await open(b));
    expect((await ch.checkQueue('lazy-restart')).messageCount).toBe(1000);
    const first = await ch.get('lazy-restart', { noAck: true });
    expect(first && [first.content.toString(), first.fields.redelivered]).toEqual(['0', false]);
    expect(await consume(ch, 'lazy-restart', 999)).toEqual(range(1, 1000));
  });

  it('answers basic.get from the paged part, in order, with the right message counts', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await ch.assertQueue('get-long', { durable: false });
    await publish(ch, 'get-long', 450);
    const got: string[] = [];
    for (;;) {
      const m = await ch.get('get-long', { noAck: true });
      if (m === false) break;
      got.push(m.content.toString());
      expect(m.fields.messageCount).toBe(450 - got.length);
    }
    expect(got).toEqual(range(0, 450));
  });

  it('purges the paged part too: nothing purged comes back, not even after a restart', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await ch.assertQueue('purge-long', { durable: true });
    await publish(ch, 'purge-long', 800, (i) => ({ persistent: i % 3 === 0 }));
    expect((await ch.purgeQueue('purge-long')).messageCount).toBe(800);
    await publish(ch, 'purge-long', 300, () => ({ persistent: true }));
    expect((await ch.checkQueue('purge-long')).messageCount).toBe(300);
    await b.close();
    b = await start(dir);
    ({ ch } = await open(b));
    expect((await ch.checkQueue('purge-long')).messageCount).toBe(300);
    expect(await consume(ch, 'purge-long', 300)).toEqual(range(0, 300));
    expect(await ch.get('purge-long')).toBe(false);
  });

  it('deletes the paged part with the queue: a new queue of the same name starts empty', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await ch.assertQueue('deleted-long', { durable: true });
    await publish(ch, 'deleted-long', 600, (i) => ({ persistent: i % 2 === 0 }));
    expect((await ch.deleteQueue('deleted-long')).messageCount).toBe(600);
    await ch.assertQueue('deleted-long', { durable: true });
    expect((await ch.checkQueue('deleted-long')).messageCount).toBe(0);
    await publish(ch, 'deleted-long', 5, () => ({ persistent: true }));
    await b.close();
    b = await start(dir);
    ({ ch } = await open(b));
    expect((await ch.checkQueue('deleted-long')).messageCount).toBe(5);
    expect(await consume(ch, 'deleted-long', 5)).toEqual(range(0, 5));
  });

  it('expires paged messages on reaching the head and dead-letters every one of them', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await ch.assertQueue('ttl-dead', { durable: false });
    await ch.assertQueue('ttl-long', { durable: false, messageTtl: 300, deadLetterExchange: '', deadLetterRoutingKey: 'ttl-dead' });
    await publish(ch, 'ttl-long', 700);
    expect(pagedOut(b, 'ttl-long')).toBeGreaterThan(0);
    const dead = await consume(ch, 'ttl-dead', 700);
    expect(dead).toEqual(range(0, 700));
    expect((await ch.checkQueue('ttl-long')).messageCount).toBe(0);
  });

  it('applies x-max-length with drop-head across the paged part: the newest messages remain', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await ch.assertQueue('capped-dead', { durable: false });
    await ch.assertQueue('capped-long', { durable: false, maxLength: 1000, deadLetterExchange: '', deadLetterRoutingKey: 'capped-dead' });
    await publish(ch, 'capped-long', 3000);
    // At the limit at once, as RabbitMQ is at each publish: the drops of heads still on disk are
    // owed and made as they are read back (before, 2,900 were counted here).
    expect((await ch.checkQueue('capped-long')).messageCount).toBe(1000);
    const q = b.broker.vhost('/').queues.get('capped-long')!;
    expect(q.pagedOut.count + q.ready.length).toBe(1000);
    expect(await consume(ch, 'capped-long', 1000)).toEqual(range(2000, 3000));
    // Every dropped message dead-lettered, oldest first.
    expect(await consume(ch, 'capped-dead', 2000)).toEqual(range(0, 2000));
    await new Promise((r) => setTimeout(r, 100));
    expect((await ch.checkQueue('capped-long')).messageCount).toBe(0);
  });

  it('a durable queue stopped with drops still owed is at its x-max-length after the restart', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await ch.assertQueue('capped-durable', { durable: true, maxLength: 500 });
    await publish(ch, 'capped-durable', 2000, () => ({ persistent: true }));
    expect((await ch.checkQueue('capped-durable')).messageCount).toBe(500);
    // Stopped at once: most drops are still owed, the messages still in the store.
    await b.close();
    b = await start(dir);
    ({ ch } = await open(b));
    expect((await ch.checkQueue('capped-durable')).messageCount).toBe(500);
    expect(await consume(ch, 'capped-durable', 500)).toEqual(range(1500, 2000));
    expect(await ch.get('capped-durable')).toBe(false);
  });

  it('pages by bytes: large bodies leave memory long before the message limit', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await ch.assertQueue('big-bodies', { durable: false });
    const body = (i: number): Buffer => Buffer.alloc(16 * 1024, i % 251);
    for (let i = 0; i < 50; i++) ch.sendToQueue('big-bodies', body(i));
    await ch.waitForConfirms();
    // 64 KiB of bodies stay in memory: four of these.
    expect(pagedOut(b, 'big-bodies')).toBe(46);
    await ch.prefetch(3);
    let i = 0;
    await new Promise<void>((resolve, reject) => {
      void ch.consume('big-bodies', (m) => {
        if (!m) return;
        if (!m.content.equals(body(i))) reject(new Error(`body ${i} differs`));
        ch.ack(m);
        if (++i === 50) resolve();
      });
    });
  });

  it('the management API shows where the ready messages are, and its get reads the paged part', async () => {
    const b = await start(await tempDir(), -1);
    const { ch } = await open(b);
    await ch.assertQueue('mgmt-long', { durable: false });
    await publish(ch, 'mgmt-long', 250);
    const api = apiClient(`http://127.0.0.1:${b.managementPort}`);
    const q = (await api('GET', '/api/queues/%2F/mgmt-long')).json;
    expect(q).toMatchObject({ messages_ready: 250, messages_ram: LIMIT, messages_paged_out: 150 });
    expect(q.message_bytes_paged_out).toBe(q.message_bytes_ready - q.message_bytes_ram);
    const got = await api('POST', '/api/queues/%2F/mgmt-long/get', { body: { count: 180, ackmode: 'ack_requeue_false', encoding: 'auto' } });
    expect(got.status).toBe(200);
    expect(got.json.map((m: { payload: string }) => m.payload)).toEqual(range(0, 180));
    expect((await ch.checkQueue('mgmt-long')).messageCount).toBe(70);
    // 70 left: all back in memory once the last page read the get started is in.
    for (let i = 0; i < 100 && pagedOut(b, 'mgmt-long') > 0; i++) await new Promise((r) => setTimeout(r, 10));
    const metrics = await api('GET', '/metrics');
    expect(metrics.text).toMatch(/warren_queue_messages_paged_out\{vhost="\/",queue="mgmt-long"\} 0/);
    // rabbitmqctl's disk_writes and disk_reads (asked for as columns): the 150 paged out, all read back.
    expect((await api('GET', '/api/queues/%2F/mgmt-long?columns=name,disk_reads,disk_writes')).json).toEqual({ name: 'mgmt-long', disk_reads: 150, disk_writes: 150 });
    await publish(ch, 'mgmt-long', 100);
    expect((await api('GET', '/metrics')).text).toMatch(/warren_queue_messages_paged_out\{vhost="\/",queue="mgmt-long"\} 70/);
  });

  it('a TTL keeps counting across a restart: the expiry time is stored with the message', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await ch.assertQueue('ttl-restart', { durable: true });
    ch.sendToQueue('ttl-restart', Buffer.from('short'), { persistent: true, expiration: '700' });
    ch.sendToQueue('ttl-restart', Buffer.from('long'), { persistent: true, expiration: '60000' });
    await ch.waitForConfirms();
    await b.close();
    await new Promise((r) => setTimeout(r, 900));
    b = await start(dir);
    ({ ch } = await open(b));
    // Had the TTL started anew at recovery, 'short' would still be there for 700 ms.
    expect((await ch.checkQueue('ttl-restart')).messageCount).toBe(1);
    const m = await ch.get('ttl-restart');
    expect(m && m.content.toString()).toBe('long');
  });

  it('a message bigger than the byte limit still reaches a waiting consumer, and so do the ones after it', async () => {
    const b = await start(await tempDir());
    const { ch } = await open(b);
    await ch.assertQueue('huge-first', { durable: false });
    const got: number[] = [];
    await ch.consume('huge-first', (m) => m && got.push(m.content.length), { noAck: true });
    ch.sendToQueue('huge-first', Buffer.alloc(100 * 1024));
    ch.sendToQueue('huge-first', Buffer.alloc(10));
    ch.sendToQueue('huge-first', Buffer.alloc(20));
    await ch.waitForConfirms();
    for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect(got).toEqual([100 * 1024, 10, 20]);
  });

  it('recovery keeps to the byte limit too: the rest stays in the store', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await ch.assertQueue('big-durable', { durable: true });
    for (let i = 0; i < 50; i++) ch.sendToQueue('big-durable', Buffer.alloc(16 * 1024, i), { persistent: true });
    await ch.waitForConfirms();
    await b.close();
    b = await start(dir);
    ({ ch } = await open(b));
    expect((await ch.checkQueue('big-durable')).messageCount).toBe(50);
    expect(pagedOut(b, 'big-durable')).toBe(46);
  });

  it('messages that expired while the broker was down are dead-lettered at the restart, not dropped', async () => {
    const dir = await tempDir();
    let b = await start(dir);
    let { ch } = await open(b);
    await ch.assertExchange('dlx-restart', 'fanout', { durable: true });
    // Named to sort before the dead-letter queue: recovered first.
    await ch.assertQueue('a-expiring', { durable: true, messageTtl: 300, deadLetterExchange: 'dlx-restart' });
    await ch.assertQueue('z-dead', { durable: true });
    await ch.bindQueue('z-dead', 'dlx-restart', '');
    await publish(ch, 'a-expiring', 250, () => ({ persistent: true }));
    await b.close();
    await new Promise((r) => setTimeout(r, 400));
    b = await start(dir);
    ({ ch } = await open(b));
    expect(await consume(ch, 'z-dead', 250)).toEqual(range(0, 250));
    expect((await ch.checkQueue('a-expiring')).messageCount).toBe(0);
  });

  it('requeued messages go back ahead of the paged ones', async () => {
    const b = await start(await tempDir());
    const { conn, ch } = await open(b);
    await ch.assertQueue('requeue-long', { durable: false });
    await publish(ch, 'requeue-long', 500);
    const taker = await conn.createChannel();
    await taker.prefetch(10);
    const first: string[] = [];
    await new Promise<void>((resolve) => {
      void taker.consume('requeue-long', (m) => {
        if (m) first.push(m.content.toString());
        if (first.length === 10) resolve();
      });
    });
    await taker.close(); // unacked: back to the queue, redelivered
    expect(await consume(ch, 'requeue-long', 500)).toEqual(range(0, 500));
  });

  it('reads a long head back in pieces, never a whole page in one go', async () => {
    // A page of the default size (65,536 small messages) decoded in one go held the event loop
    // for 60-110 ms: the queue reads it back PAGE_READ_MESSAGES at a time.
    class CountingStore extends LevelStore {
      readonly asked: number[] = [];
      override readMessages(vhost: string, queue: string, fromSeq: number, maxCount: number, maxBytes: number): Promise<ReadMessage[]> {
        if (queue === 'long-head') this.asked.push(maxCount);
        return super.readMessages(vhost, queue, fromSeq, maxCount, maxBytes);
      }
    }
    const store = new CountingStore(await tempDir());
    const pageOut = 3 * PAGE_READ_MESSAGES;
    const n = 2 * pageOut;
    const b = await startBroker({ store, pageOutMessages: pageOut, pageOutBytes: 64 * 1024 * 1024, managementPort: 0 });
    res.defer(() => b.close());
    const { ch } = await open(b);
    await ch.assertQueue('long-head', { durable: true });
    await publish(ch, 'long-head', n, () => ({ persistent: true }));
    expect(pagedOut(b, 'long-head')).toBe(n - pageOut);
    expect(await consume(ch, 'long-head', n, 1000)).toEqual(range(0, n));
    // Every read asked for at most a piece, and the paged half took several of them.
    expect(Math.max(...store.asked)).toBe(PAGE_READ_MESSAGES);
    expect(store.asked.length).toBeGreaterThanOrEqual((n - pageOut) / PAGE_READ_MESSAGES);
    expect(pagedOut(b, 'long-head')).toBe(0);
  });
});
