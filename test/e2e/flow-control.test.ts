// Memory alarm and flow control: a fast publisher and a slow consumer against a broker with a low
// memory watermark. The publisher is blocked (connection.blocked) and unblocked, the broker's
// memory stays bounded, and every message arrives.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../src/index.js';
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';
import { RawAmqp, channelOpenFrame } from '../helpers/raw-amqp.js';
import { rssOf } from '../helpers/process-memory.js';

let proc: BrokerProcess | undefined;
let dataDir: string | undefined;
afterEach(async () => {
  if (proc) await proc.kill9().catch(() => {});
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  proc = undefined;
  dataDir = undefined;
});

describe('memory alarm', () => {
  it('blocks a fast publisher above the watermark, unblocks it as consumers drain, loses nothing', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'warren-flow-'));
    const WATERMARK = 64 * 1024 * 1024;
    proc = await spawnBroker({ dataDir, args: ['--memory-high-watermark', String(WATERMARK)] });
    const url = `amqp://127.0.0.1:${proc.port}`;
    const pubConn = await amqp.connect(url);
    const events: string[] = [];
    pubConn.on('blocked', (reason: string) => events.push(`blocked:${reason}`));
    pubConn.on('unblocked', () => events.push('unblocked'));
    const pub = await pubConn.createChannel();
    await pub.assertQueue('flow', { durable: false });

    const body = Buffer.alloc(64 * 1024, 7);
    const TOTAL = 3000; // ~190 MiB in all: three times the watermark
    let maxRss = 0;
    const pid = proc.proc.pid!;
    const sampler = setInterval(() => {
      maxRss = Math.max(maxRss, rssOf(pid));
    }, 50);

    // The consumer starts late and is slow, so the queue grows until the alarm stops the publisher.
    const subConn = await amqp.connect(url);
    const sub = await subConn.createChannel();
    await sub.prefetch(50);
    let received = 0;
    const seen = new Set<number>();
    const allIn = new Promise<void>((resolve) => {
      setTimeout(() => {
        void sub.consume('flow', (m) => {
          if (!m) return;
          seen.add(m.content.readUInt32BE(0));
          received++;
          const last = received === TOTAL;
          // Done once the last ack is sent: closing before it would make that ack throw.
          setTimeout(() => {
            sub.ack(m);
            if (last) resolve();
          }, 1);
        });
      }, 1500);
    });

    for (let i = 0; i < TOTAL; i++) {
      const b = Buffer.from(body);
      b.writeUInt32BE(i, 0);
      if (!pub.sendToQueue('flow', b)) await new Promise((r) => pub.once('drain', r));
    }
    await allIn;
    // connection.unblocked comes on the publisher's connection, the last delivery on the
    // consumer's: the test may see the one before the other.
    for (let i = 0; i < 100 && !events.includes('unblocked'); i++) await new Promise((r) => setTimeout(r, 50));
    clearInterval(sampler);
    expect(seen.size).toBe(TOTAL);
    expect(events[0]).toMatch(/^blocked:low on memory/);
    expect(events).toContain('unblocked');
    // The bound: the watermark on data memory plus the runtime's own overhead and allocator slack.
    expect(maxRss).toBeLessThan(WATERMARK + 160 * 1024 * 1024);
    await pubConn.close();
    await subConn.close();
  }, 180_000);
});

describe('limits', () => {
  it('refuses connections past max-connections with 530, and serves the others', async () => {
    const b = await startBroker({ maxConnections: 2 });
    const url = `amqp://127.0.0.1:${b.port}`;
    const a = await amqp.connect(url);
    const c = await amqp.connect(url);
    // amqplib only says the open failed; the raw client shows the code and text.
    await expect(amqp.connect(url)).rejects.toThrow(/Expected ConnectionOpenOk/);
    const raw = await RawAmqp.connect(b.port);
    await expect(raw.handshake()).rejects.toThrow(/530 NOT_ALLOWED - connection refused: node connection limit \(2\) is reached/);
    raw.destroy();
    const ch = await a.createChannel();
    await ch.assertQueue('still-ok', { exclusive: true });
    await c.close();
    const d = await amqp.connect(url); // a slot came free
    await d.close();
    await a.close();
    await b.close();
  });

  it('refuses a message larger than the maximum size with 406 and keeps the connection', async () => {
    const b = await startBroker({ maxMessageSize: 1024 });
    const conn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
    const ch = await conn.createChannel();
    await ch.assertQueue('big', { exclusive: false });
    const closed = new Promise<number>((r) => ch.once('error', (e: { code: number }) => r(e.code)));
    ch.sendToQueue('big', Buffer.alloc(2048));
    expect(await closed).toBe(406);
    const ch2 = await conn.createChannel();
    ch2.sendToQueue('big', Buffer.alloc(512));
    await new Promise((r) => setTimeout(r, 50));
    expect((await ch2.checkQueue('big')).messageCount).toBe(1);
    await conn.close();
    await b.close();
  });

  it('refuses a body over the maximum size once all of it has come, as RabbitMQ: amqplib reopening that channel number at once keeps working', async () => {
    // amqplib queues a large body in the channel's own buffer, and opens its next channel under
    // the closed one's number as soon as it has answered the close: refused at the header, the
    // open arrived while the rest of the refused body was still coming, on a channel still
    // closing, and was never answered (RabbitMQ 3.10.8 refuses after the body: 20 of 20 there).
    const b = await startBroker({ maxMessageSize: 1024 * 1024 });
    const conn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
    const setup = await conn.createChannel();
    await setup.assertQueue('big2');
    for (let k = 0; k < 10; k++) {
      const big = await conn.createConfirmChannel();
      const closed = new Promise<string>((r) => big.once('error', (e: Error) => r(e.message)));
      big.sendToQueue('big2', Buffer.alloc(4 * 1024 * 1024));
      expect(await closed).toContain('message size 4194304 is larger than configured max size 1048576');
      const after = await conn.createConfirmChannel();
      after.sendToQueue('big2', Buffer.from(`small ${k}`));
      await after.waitForConfirms();
      await after.close();
    }
    expect((await setup.checkQueue('big2')).messageCount).toBe(10);
    await conn.close();
    await b.close();
  }, 30_000);

  it('refuses channel numbers above channel_max with 504', async () => {
    const b = await startBroker({ channelMax: 3 });
    const raw = await RawAmqp.connect(b.port);
    await raw.handshake();
    await raw.openChannel(3);
    raw.write(channelOpenFrame(4));
    const r = await raw.waitForClose();
    expect(r.kind === 'connection.close' && r.replyCode).toBe(504);
    raw.destroy();
    await b.close();
  });
});
