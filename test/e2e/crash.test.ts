// Durability: a confirmed persistent message on a durable queue must
// survive kill -9 of the broker process (as with RabbitMQ).
// Needs the built CLI (`npm run build` -> dist/cli.js).
import { describe, expect, it } from 'vitest';
import type { ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';
import { resources } from '../helpers/resources.js';
import { sleep, waitUntil } from '../helpers/async.js';

const res = resources();
const tempDir = (): Promise<string> => res.tempDir('warren-crash-');
const start = (dataDir: string) => res.broker(dataDir);
const connect = (port: number): Promise<ChannelModel> => res.connect(port);

/** Drain a queue with basic.get (no-ack), returning the bodies in order. */
async function drain(conn: ChannelModel, queue: string): Promise<string[]> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  const out: string[] = [];
  for (;;) {
    const m: GetMessage | false = await ch.get(queue, { noAck: true });
    if (m === false) break;
    out.push(m.content.toString());
  }
  await ch.close();
  return out;
}

describe('crash recovery', () => {
  it('kill -9 while publishing persistent messages with confirms: every confirmed message survives', async () => {
    const dataDir = await tempDir();
    const Q = 'crash-durable-q';
    const b1 = await start(dataDir);
    const conn1 = await connect(b1.port);
    const ch: ConfirmChannel = await conn1.createConfirmChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue(Q, { durable: true });

    const confirmed = new Set<number>();
    let nacked = 0;
    let published = 0;
    let settled = 0;
    let stop = false;
    let closed = false;
    const chClosed = new Promise<void>((r) =>
      ch.once('close', () => {
        closed = true;
        r();
      }),
    );

    const publisher = (async () => {
      for (let i = 0; !stop; i++) {
        let ok: boolean;
        try {
          ok = ch.sendToQueue(Q, Buffer.from(`msg-${i}`), { persistent: true, messageId: String(i) }, (err) => {
            settled++;
            // amqplib also fails pending callbacks with 'channel closed' when the socket dies
            if (err?.message === 'message nacked') nacked++;
            else if (!err) confirmed.add(i);
          });
        } catch {
          return; // channel/connection gone
        }
        published = i + 1;
        if (!ok) await Promise.race([new Promise<void>((r) => ch.once('drain', () => r())), chClosed]);
        else if (i % 50 === 0) await new Promise<void>((r) => setImmediate(r));
        // keep a bounded window of unconfirmed messages in flight
        while (!stop && !closed && published - settled > 1000) await sleep(1);
      }
    })();

    // Let a good number of confirms come back, then pull the plug mid-stream.
    await waitUntil(() => confirmed.size >= 2000, '2000 confirms before the crash', 30_000);
    await b1.kill9();
    await Promise.race([chClosed, sleep(5000)]);
    stop = true;
    await publisher;
    const confirmedAtCrash = new Set(confirmed);
    expect(confirmedAtCrash.size).toBeGreaterThanOrEqual(2000);
    expect(nacked, 'the broker nacked persistent messages before the crash').toBe(0);

    // Restart on the same data directory. The store's journal (src/store/journal.ts) holds the
    // batches since its last checkpoint: they are written back into LevelDB, which kept them
    // anyway here (a process crash leaves its writes in the page cache).
    const b2 = await start(dataDir);
    const replay = b2.logs().find((l) => typeof l.msg === 'string' && l.msg.includes('journal records written back after an unclean stop'));
    expect(replay?.records, 'the journal replayed at start').toBeGreaterThan(0);
    const conn2 = await connect(b2.port);
    const check = await conn2.createChannel();
    const ok = await check.checkQueue(Q); // the durable queue must still exist
    expect(ok.messageCount).toBeGreaterThanOrEqual(confirmedAtCrash.size);

    const bodies = await drain(conn2, Q);
    const received = bodies.map((b) => {
      const m = /^msg-(\d+)$/.exec(b);
      expect(m, `unexpected body after recovery: ${JSON.stringify(b.slice(0, 50))}`).not.toBe(null);
      return Number(m![1]);
    });
    const receivedSet = new Set(received);
    const lost = [...confirmedAtCrash].filter((i) => !receivedSet.has(i));
    expect(lost.length, `confirmed but lost after kill -9 (first few: ${lost.slice(0, 10).join(', ')})`).toBe(0);
    // nothing that was never published
    expect(received.every((i) => i < published)).toBe(true);
    // each message was published once and never delivered: no duplicates
    expect(receivedSet.size, 'duplicated messages after recovery').toBe(received.length);
    // FIFO order of a single publisher is preserved across recovery
    expect(received).toEqual([...received].sort((a, b) => a - b));
    expect(ok.messageCount).toBe(received.length);
  });

  it('graceful restart: durable queue keeps persistent messages, drops transient ones and non-durable queues', async () => {
    const dataDir = await tempDir();
    const b1 = await start(dataDir);
    const conn1 = await connect(b1.port);
    const ch = await conn1.createConfirmChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('restart-durable', { durable: true });
    await ch.assertQueue('restart-transient-queue', { durable: false });
    for (let i = 0; i < 10; i++) {
      ch.sendToQueue('restart-durable', Buffer.from(`p${i}`), { persistent: true });
      ch.sendToQueue('restart-durable', Buffer.from(`t${i}`), { persistent: false });
      ch.sendToQueue('restart-transient-queue', Buffer.from(`x${i}`), { persistent: true });
    }
    await ch.waitForConfirms();
    await conn1.close().catch(() => undefined);
    await b1.stop();

    const b2 = await start(dataDir);
    const conn2 = await connect(b2.port);
    const bodies = await drain(conn2, 'restart-durable');
    expect(bodies).toEqual(Array.from({ length: 10 }, (_, i) => `p${i}`));
    const probe = await conn2.createChannel();
    probe.on('error', () => undefined);
    const err = await probe.checkQueue('restart-transient-queue').then(
      () => null,
      (e: { code?: number }) => e,
    );
    expect(err?.code, 'non-durable queue must not survive a restart').toBe(404);
  });

  it('a message keeps its BCC keys across a restart: dead-lettered, it still goes where they route (RabbitMQ 3.10.8 the same)', async () => {
    const dataDir = await tempDir();
    const b1 = await start(dataDir);
    const conn1 = await connect(b1.port);
    const ch = await conn1.createConfirmChannel();
    await ch.assertExchange('bcc-dlx', 'direct', { durable: true });
    for (const [q, key] of [['bcc-by-bcc', 'kb'], ['bcc-by-cc', 'kc']] as const) {
      await ch.assertQueue(q, { durable: true });
      await ch.bindQueue(q, 'bcc-dlx', key);
    }
    await ch.assertQueue('bcc-src', { durable: true, arguments: { 'x-dead-letter-exchange': 'bcc-dlx' } });
    ch.sendToQueue('bcc-src', Buffer.from('m'), { persistent: true, headers: { BCC: ['kb'], CC: ['kc'] } });
    await ch.waitForConfirms();
    await conn1.close();
    await b1.stop();

    const b2 = await start(dataDir);
    const conn2 = await connect(b2.port);
    const ch2 = await conn2.createChannel();
    const m = await ch2.get('bcc-src');
    if (!m) throw new Error('bcc-src is empty after the restart');
    expect(m.properties.headers).toEqual({ CC: ['kc'] }); // BCC never shows
    ch2.nack(m, false, false);
    await waitUntil(async () => (await ch2.checkQueue('bcc-by-bcc')).messageCount === 1 && (await ch2.checkQueue('bcc-by-cc')).messageCount === 1, 'the dead letter in both queues');
    const dead = await ch2.get('bcc-by-bcc', { noAck: true });
    expect(dead && (dead.properties.headers?.['x-death'] as { 'routing-keys': string[] }[])[0]!['routing-keys']).toEqual(['bcc-src', 'kc']);
  });
});
