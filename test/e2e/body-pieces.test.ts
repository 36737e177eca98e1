// Large bodies kept in the pieces they arrived in (src/frames/body.ts), with amqplib over TCP
// against the built broker: a body is never joined on its way through, so every place that writes
// one out takes its pieces — a consumer's frames (cut at that consumer's frame_max, not the
// publisher's), basic.get, a page file, a body file — and each must give back the same bytes.
// Random bodies of odd sizes, compared by SHA-256.
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { resources } from '../helpers/resources.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const res = resources();

const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function connect(port: number, frameMax: number): Promise<ChannelModel> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}?frameMax=${frameMax}`);
  conn.on('error', () => undefined);
  res.defer(() => conn.close());
  return conn;
}

/**
 * Sizes around and past the 32 KiB from which bodies may stay in pieces (when their reads hold at
 * most twice their bytes), none a multiple of a frame.
 */
const SIZES = [256 * KiB, 300 * KiB + 7, MiB + 3, 2 * MiB - 5, 5 * MiB + 1, 200 * KiB + 1, 32 * KiB, 32 * KiB - 1, 64 * KiB + 9, 100 * KiB + 5];

interface Sent {
  id: number;
  digest: string;
  size: number;
}

async function publishAll(ch: amqp.ConfirmChannel, queue: string, count: number, persistent: (i: number) => boolean): Promise<Sent[]> {
  const sent: Sent[] = [];
  for (let i = 0; i < count; i++) {
    const body = randomBytes(SIZES[i % SIZES.length]!);
    sent.push({ id: i, digest: digest(body), size: body.length });
    ch.sendToQueue(queue, body, { persistent: persistent(i), messageId: String(i) });
  }
  await ch.waitForConfirms();
  return sent;
}

async function consumeAll(ch: Channel, queue: string, count: number): Promise<Map<number, string>> {
  const got = new Map<number, string>();
  await ch.prefetch(4);
  await new Promise<void>((resolve) => {
    void ch.consume(queue, (m) => {
      if (!m) return;
      got.set(Number(m.properties.messageId), digest(m.content));
      ch.ack(m);
      if (got.size === count) resolve();
    });
  });
  return got;
}

describe('large bodies in pieces', () => {
  it('reach a consumer with another frame_max, basic.get, page files, body files and a restart byte for byte', async () => {
    const dir = await res.tempDir('warren-pieces-');
    // A small page-out threshold, so that transient bodies go to the page file.
    const args = ['--page-out-bytes', String(2 * MiB)];
    let b = await res.broker(dir, args);
    // The publisher's frames are large (a body frame spans several socket reads, so pieces are
    // parts of frames); the consumer's are small (each piece is cut into many frames).
    const pub = await connect(b.port, 131072);
    const small = await connect(b.port, 4096);
    const pch = await pub.createConfirmChannel();

    // Straight through to a consumer.
    await pch.assertQueue('through', { durable: false });
    const cch = await small.createChannel();
    const received = consumeAll(cch, 'through', 12);
    const sentThrough = await publishAll(pch, 'through', 12, () => false);
    const got = await received;
    for (const s of sentThrough) expect(got.get(s.id), `through #${s.id} (${s.size} bytes)`).toBe(s.digest);

    // Kept: persistent ones in body files, transient ones paged out; half taken by basic.get.
    await pch.assertQueue('kept', { durable: true });
    const COUNT = 24;
    const persistent = (i: number): boolean => i % 2 === 0;
    const sent = await publishAll(pch, 'kept', COUNT, persistent);
    const gch = await pub.createChannel();
    for (let i = 0; i < COUNT / 2; i++) {
      const m = await gch.get('kept', { noAck: false });
      if (!m) throw new Error('queue ran dry');
      const id = Number(m.properties.messageId);
      expect(id).toBe(i);
      expect(digest(m.content), `get #${id} (${sent[id]!.size} bytes)`).toBe(sent[id]!.digest);
      gch.ack(m);
    }
    await gch.close();
    expect(await b.stop()).toBe(0);

    // After a restart only the persistent ones are left, read back from the body files.
    b = await res.broker(dir, args);
    const again = await connect(b.port, 4096);
    const ach = await again.createChannel();
    const rest = sent.slice(COUNT / 2).filter((s) => persistent(s.id));
    expect((await ach.checkQueue('kept')).messageCount).toBe(rest.length);
    const back = await consumeAll(ach, 'kept', rest.length);
    for (const s of rest) expect(back.get(s.id), `restart #${s.id} (${s.size} bytes)`).toBe(s.digest);
  }, 120_000);
});
