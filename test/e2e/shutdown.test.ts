// SIGTERM under load: publishers (with and without confirms) and a consumer are running when the
// broker is told to stop. After a restart, every confirmed message is there, and what the
// unconfirmed publisher got in before the shutdown is a gap-free prefix of what it sent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { expect, it } from 'vitest';
import { spawnBroker } from '../helpers/broker-process.js';
import { sleep } from '../helpers/async.js';


it('SIGTERM while clients publish and consume loses no confirmed or accepted persistent message', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-sigterm-load-'));
  try {
    const b = await spawnBroker({ dataDir });
    const url = `amqp://127.0.0.1:${b.port}`;
    const conns = await Promise.all([amqp.connect(url), amqp.connect(url), amqp.connect(url)]);
    for (const c of conns) {
      c.on('error', () => {});
      c.on('close', () => {});
    }
    const [confConn, plainConn, subConn] = conns as [amqp.ChannelModel, amqp.ChannelModel, amqp.ChannelModel];
    const conf = await confConn.createConfirmChannel();
    const plain = await plainConn.createChannel();
    const sub = await subConn.createChannel();
    for (const ch of [conf, plain, sub]) ch.on('error', () => {});
    await conf.assertQueue('sigterm-confirmed', { durable: true });
    await plain.assertQueue('sigterm-plain', { durable: true });
    // A consumer on a third queue keeps the broker busy delivering and acking throughout.
    await sub.assertQueue('sigterm-busy', { durable: true });
    await sub.consume('sigterm-busy', (m) => m && sub.ack(m));

    const confirmed = new Set<number>();
    let running = true;
    let sentPlain = 0;
    const pumpConfirmed = (async () => {
      for (let i = 0; running; i++) {
        try {
          const body = Buffer.alloc(8);
          body.writeUInt32BE(i);
          conf.sendToQueue('sigterm-confirmed', body, { persistent: true }, (err) => !err && confirmed.add(i));
        } catch {
          return;
        }
        if (i % 50 === 0) await sleep(1);
      }
    })();
    const pumpPlain = (async () => {
      for (let i = 0; running; i++) {
        try {
          const body = Buffer.alloc(8);
          body.writeUInt32BE(i);
          plain.sendToQueue('sigterm-plain', body, { persistent: true });
          const more = plain.sendToQueue('sigterm-busy', body, { persistent: true });
          sentPlain = i + 1;
          if (!more) await new Promise((r) => plain.once('drain', r));
        } catch {
          return;
        }
        if (i % 50 === 0) await sleep(1);
      }
    })();
    await sleep(700);
    expect(await b.stop()).toBe(0);
    running = false;
    await Promise.all([pumpConfirmed, pumpPlain]);

    const again = await spawnBroker({ dataDir });
    const conn = await amqp.connect(`amqp://127.0.0.1:${again.port}`);
    const ch = await conn.createChannel();
    // Consumes until the queue is empty (passive declare says 0 and nothing more arrives).
    const drain = async (q: string): Promise<number[]> => {
      const total = (await ch.checkQueue(q)).messageCount;
      const ids: number[] = [];
      await new Promise<void>((resolve) => {
        if (total === 0) resolve();
        void ch.consume(q, (m) => {
          if (!m) return;
          ids.push(m.content.readUInt32BE(0));
          if (ids.length === total) resolve();
        }, { noAck: true });
      });
      return ids;
    };
    const gotConfirmed = new Set(await drain('sigterm-confirmed'));
    const gotPlain = await drain('sigterm-plain');
    expect(confirmed.size).toBeGreaterThan(0);
    expect([...confirmed].filter((id) => !gotConfirmed.has(id))).toEqual([]);
    expect(gotPlain.length).toBeGreaterThan(0);
    expect(gotPlain.length).toBeLessThanOrEqual(sentPlain);
    expect(gotPlain).toEqual(gotPlain.map((_, i) => i)); // a prefix of what was sent, no gaps
    await conn.close();
    await again.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
