// A plain TCP connection reads into a buffer of its own, read into again and again
// (src/server/socket-reads.ts), unless the frames layer kept a view of the last chunk
// (src/frames/kept-views.ts). A view kept and not counted would be overwritten by the next read:
// a queued body, or one on its way to the store, would change under the message. Here a raw client
// cuts its byte stream at random places, one write per read, so that bodies start, end and
// straddle reads every way (whole in one read, in pieces across several, a frame-end octet alone
// at the start of the next read), all messages held in a queue while the later reads come in; then
// every body is read back and compared byte for byte, from memory and after a restart from the
// store. (The broker copies bodies of 32 KiB and more into pool slabs as they come, so the views it
// keeps are the pieces of smaller bodies and a held last piece: dropping either count fails this.)
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { BASIC, FRAME_HEADER, M, RawAmqp, basicPublishFrame, contentBodyFrame, frame, queueDeclareFrame } from '../helpers/raw-amqp.js';
import { sleep } from '../helpers/async.js';

const KiB = 1024;
const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A content header with delivery-mode 2 and a message-id (the order they are read back in). */
function headerFrame(channel: number, size: number, id: number): Buffer {
  const mid = Buffer.from(String(id));
  const p = Buffer.alloc(14 + 1 + 1 + mid.length);
  p.writeUInt16BE(BASIC, 0);
  p.writeUInt16BE(0, 2);
  p.writeBigUInt64BE(BigInt(size), 4);
  p.writeUInt16BE(0x1000 | 0x0080, 12); // delivery-mode, message-id
  p[14] = 2;
  p[15] = mid.length;
  mid.copy(p, 16);
  return frame(FRAME_HEADER, channel, p);
}

/** Sizes on both sides of the 32 KiB from which the broker copies bodies into pool slabs, and several reads long. */
const SIZES = [0, 1, 17, 700, 5 * KiB, 20 * KiB, 31 * KiB, 33 * KiB, 40 * KiB, 63 * KiB, 64 * KiB + 3, 70 * KiB, 129 * KiB + 1, 300 * KiB];

let broker: RunningBroker | null = null;
let dataDir = '';
afterAll(async () => {
  await broker?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Every message of queue, by message-id, as digests of their bodies. */
async function readBack(port: number, queue: string): Promise<Map<number, string>> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  const ch = await conn.createChannel();
  const got = new Map<number, string>();
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (!m) break;
    got.set(Number(m.properties.messageId), digest(m.content));
  }
  await conn.close();
  return got;
}

/** Publishes bodies to amq.fanout from a raw client whose byte stream is cut at random places. */
async function publishInRandomCuts(port: number, frameMax: number, bodies: Buffer[], firstId: number, sizes: Set<number>): Promise<void> {
  const raw = await RawAmqp.connect(port);
  await raw.handshake({ frameMax });
  await raw.openChannel(1);
  // The connection just made reads into its own buffer (else this test would prove nothing).
  const conn = [...broker!.broker.connections].find((c) => c.socket.remotePort === raw.socket.localPort);
  expect(conn?.ownReads).toBe(true);
  const parts: Buffer[] = [];
  // Where each message's frames end, and each body frame's frame-end octet is, in the stream.
  const messageEnds: number[] = [];
  const frameEndOctets: number[] = [];
  let size = 0;
  const add = (f: Buffer): void => {
    parts.push(f);
    size += f.length;
  };
  bodies.forEach((body, i) => {
    add(basicPublishFrame(1, 'amq.fanout', ''));
    add(headerFrame(1, body.length, firstId + i));
    for (let off = 0; off < body.length; off += frameMax - 8) {
      add(contentBodyFrame(1, body.subarray(off, Math.min(body.length, off + frameMax - 8))));
      frameEndOctets.push(size - 1);
    }
    messageEnds.push(size);
  });
  const stream = Buffer.concat(parts);
  const next = (offsets: number[], at: number): number => offsets.find((o) => o > at) ?? stream.length;
  for (let at = 0; at < stream.length; ) {
    // Cuts of every kind, each written alone after a pause so that it is a read of its own (or of
    // several, when it is longer than the broker's buffer): a whole message in one read, a body
    // frame's end octet alone at the start of the next read (its last piece held back), short ones
    // (headers and frames cut anywhere) and long ones (bodies in pieces). A cut of more than 64 KiB
    // of a 300 KiB body moves the buffer to 256 KiB, others move it back (socket-reads.ts, nextSize).
    const r = Math.random();
    const aligned = at === 0 || messageEnds.includes(at);
    let n: number;
    if (r < 0.3 || (aligned && r < 0.7)) n = next(messageEnds, at) - at;
    else if (r < 0.45) n = next(frameEndOctets, at) - at;
    else n = 1 + Math.floor(Math.random() * (r < 0.8 ? 9 * KiB : r < 0.9 ? 90 * KiB : 300 * KiB));
    if (n <= 0 || n > 320 * KiB) n = 1 + Math.floor(Math.random() * 9 * KiB);
    raw.write(stream.subarray(at, at + n));
    at += n;
    await sleep(1);
    sizes.add(readBufferSize(conn!.socket));
  }
  // A round trip: everything written before it has been read and handled.
  raw.write(queueDeclareFrame(1, 'read-buffer-a', { durable: true, passive: true }));
  await raw.expectMethod(M.queueDeclareOk, 20_000);
  raw.socket.destroy();
}

/** The buffer the broker's socket reads into next: Node's own field for it (net.Socket's kBuffer). */
function readBufferSize(socket: object): number {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kBuffer');
  return ((socket as Record<symbol, unknown>)[key!] as Buffer).length;
}

describe('reads into a buffer used again', () => {
  it('keeps every body as sent, however the reads cut the frames, in memory and in the store', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'warren-read-buffer-'));
    broker = await startBroker({ dataDir, logLevel: 'silent' });
    // Two durable queues get every message: one is read back from memory, the other after a restart.
    const setup = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    const ch = await setup.createChannel();
    for (const q of ['read-buffer-a', 'read-buffer-b']) {
      await ch.assertQueue(q, { durable: true });
      await ch.bindQueue(q, 'amq.fanout', '');
    }
    await setup.close();
    const sent = new Map<number, string>();
    const sizes = new Set<number>();
    for (const [run, frameMax] of [4096, 131072, 131072].entries()) {
      const bodies = Array.from({ length: 50 }, (_, i) => randomBytes(SIZES[(i * 5 + run) % SIZES.length]!));
      bodies.forEach((b, i) => sent.set(run * 1000 + i, digest(b)));
      await publishInRandomCuts(broker.port, frameMax, bodies, run * 1000, sizes);
    }
    // The cuts moved the broker's read buffer through all its sizes, the largest included.
    expect([...sizes].sort((a, b) => a - b)).toEqual([KiB, 64 * KiB, 256 * KiB]);
    const fromMemory = await readBack(broker.port, 'read-buffer-a');
    expect([...fromMemory.keys()].sort((a, b) => a - b)).toEqual([...sent.keys()]);
    for (const [id, d] of sent) expect(fromMemory.get(id), `message ${id} read back from memory`).toBe(d);
    await broker.close();
    broker = await startBroker({ dataDir, logLevel: 'silent' });
    const fromStore = await readBack(broker.port, 'read-buffer-b');
    expect(fromStore.size).toBe(sent.size);
    for (const [id, d] of sent) expect(fromStore.get(id), `message ${id} read back after a restart`).toBe(d);
  }, 120_000);
});
