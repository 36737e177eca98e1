// A consumer that stops reading its socket, with amqplib over TCP against an in-process broker:
// - backpressure: the kernel's buffers fill, the rest of a write waits in the socket, and
//   deliveries stop until it is written (FrameWriter.congested); the queue keeps the rest;
// - a body's pool slabs (src/frames/body-pool.ts) go back only once its write is done
//   (FrameWriter.flushesDone): a client may ack deliveries it has not read yet, and a slab given
//   back while the socket still held it would be overwritten by the next publish before it
//   reached the wire;
// - a socket destroyed with writes pending drops them, counts them done, and the broker goes on.
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import type { Connection } from '../../src/server/connection.js';
import { slabPool } from '../../src/frames/body-pool.js';
import { waitUntil } from '../helpers/async.js';
import { resources } from '../helpers/resources.js';

const KiB = 1024;
const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Sizes from 40 KiB to ~300 KiB (pooled from 32 KiB), none a multiple of a slab or a frame. */
const sizeOf = (i: number): number => 40 * KiB + ((i * 37_813) % (260 * KiB)) + (i % 7);

// Released after each test in reverse order: connections, then the broker.
const res = resources();
let broker: RunningBroker;

beforeEach(async () => {
  const b = await startBroker({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
  res.defer(() => b.close());
  broker = b;
});

const connect = (): Promise<ChannelModel> => res.connect(broker.port);

/** The client's socket under amqplib's connection. */
const socketOf = (c: ChannelModel): Socket => (c as unknown as { connection: { stream: Socket } }).connection.stream;

/**
 * Stops amqplib reading its socket, and returns what starts it again. amqplib reads on 'readable'
 * (where pause() does nothing); without a listener the socket reads up to its high-water mark and
 * stops, and the kernel's buffers fill.
 */
function stopReading(c: ChannelModel): () => void {
  const socket = socketOf(c);
  const listeners = socket.listeners('readable') as ((...a: unknown[]) => void)[];
  socket.removeAllListeners('readable');
  return () => {
    for (const l of listeners) socket.on('readable', l);
  };
}

/** The broker's side of a client connection. */
function brokerSide(c: ChannelModel): Connection {
  const port = socketOf(c).localPort;
  const conn = [...broker.broker.connections].find((x) => x.socket.remotePort === port);
  if (!conn) throw new Error('no broker connection for the client');
  return conn;
}

async function publish(ch: ConfirmChannel, queue: string, first: number, count: number, sent: Map<number, string>): Promise<void> {
  for (let i = first; i < first + count; i++) {
    const body = randomBytes(sizeOf(i));
    sent.set(i, digest(body));
    if (!ch.publish('', queue, body, { messageId: String(i) })) await new Promise((r) => ch.once('drain', r));
  }
  await ch.waitForConfirms();
}

describe('a consumer that stops reading', () => {
  it('stop at a consumer that does not read, keep slabs acked before they were written, and deliver every body intact', async () => {
    const pubConn = await connect();
    const pub = await pubConn.createConfirmChannel();
    const { queue } = await pub.assertQueue('', { exclusive: false, autoDelete: false });

    const subConn = await connect();
    const side = brokerSide(subConn);
    const sub = await subConn.createChannel();
    const got: { id: number; d: string }[] = [];
    await sub.consume(queue, (m) => {
      if (m) got.push({ id: Number(m.properties.messageId), d: digest(m.content) });
    });
    const startReading = stopReading(subConn);

    // ~20 MB for a consumer that reads nothing: more than loopback's buffers hold, less than the
    // ready bytes at which a queue with consumers pauses its publishers (BACKLOG_HIGH_BYTES).
    const sent = new Map<number, string>();
    await publish(pub, queue, 0, 120, sent);
    await waitUntil(() => side.socket.writableLength > 0, 'a write waiting in the socket');
    const ch = side.channels.get(1)!;
    // Deliveries stopped at the full socket: the queue still holds messages.
    await new Promise((r) => setTimeout(r, 100));
    const delivered = ch.unackedCount;
    expect(delivered).toBeGreaterThan(0);
    expect(delivered).toBeLessThan(120);
    expect((await pub.checkQueue(queue)).messageCount).toBe(120 - delivered);
    expect(ch.unackedCount).toBe(delivered);

    // The client acks what it was sent and has not read. Bodies whose bytes the kernel took may go
    // back to the pool; those the socket still holds must not. More publishes take the slabs given back.
    const reused = slabPool.reused;
    sub.ack({ fields: { deliveryTag: delivered } } as unknown as amqp.Message, true);
    await waitUntil(() => ch.unackedCount === 0, 'the ack');
    await publish(pub, queue, 120, 60, sent);
    expect(slabPool.reused).toBeGreaterThan(reused);

    startReading();
    await waitUntil(() => got.length === 180, 'all 180 delivered', 30_000);
    expect(got.map((g) => g.id)).toEqual([...sent.keys()]);
    for (const g of got) expect(g.d, `message ${g.id}`).toBe(sent.get(g.id));
    expect(side.socket.writableLength).toBe(0);
  }, 60_000);

  it('drops what a destroyed socket still held, and the broker goes on', async () => {
    const pubConn = await connect();
    const pub = await pubConn.createConfirmChannel();
    const { queue } = await pub.assertQueue('', { exclusive: false, autoDelete: false });
    // Not closed after the test: its socket is destroyed here.
    const subConn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    subConn.on('error', () => undefined);
    const side = brokerSide(subConn);
    const sub = await subConn.createChannel();
    await sub.consume(queue, () => undefined);
    stopReading(subConn);
    const sent = new Map<number, string>();
    await publish(pub, queue, 0, 150, sent);
    await waitUntil(() => side.socket.writableLength > 0, 'a write waiting in the socket');
    const sends = side.writer.sends;
    expect(side.writer.flushesDone).toBeLessThan(sends);
    socketOf(subConn).destroy();
    // The pending write was dropped with the socket and counted done; the unacked came back.
    await waitUntil(() => side.writer.flushesDone === sends, 'the dropped write counted done');
    await waitUntil(async () => (await pub.checkQueue(queue)).messageCount === 150, 'all 150 back in the queue');
    const again = await (await connect()).createChannel();
    const got = new Map<number, string>();
    await again.consume(queue, (m) => {
      if (!m) return;
      got.set(Number(m.properties.messageId), digest(m.content));
      again.ack(m);
    });
    await waitUntil(() => got.size === 150, 'all 150 redelivered', 30_000);
    expect(got).toEqual(sent);
  }, 60_000);
});
