// Closing as RabbitMQ closes: after connection.close-ok the client closes the socket, not the
// broker (a client still writing must not get EPIPE/ECONNRESET, directly or through a TCP proxy);
// after channel.close-ok nothing more arrives for that channel (amqplib throws on such a frame).
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { waitUntil } from '../helpers/async.js';
import {
  BASIC,
  FRAME_HEADER,
  M,
  RawAmqp,
  basicPublishFrame,
  bits,
  contentBodyFrame,
  frame,
  queueDeclareFrame,
  u64,
  u8,
  channelOpenFrame,
  connectionCloseOkFrame,
  connectionOpenFrame,
  methodFrame,
  shortstr,
  u16,
} from '../helpers/raw-amqp.js';

/** Every frame left to read from the socket. */
async function remainingFrames(raw: RawAmqp): Promise<number> {
  let n = 0;
  while (await raw.nextFrame(0)) n++;
  return n;
}

/** A plain TCP relay, as a proxy sits between clients and brokers: bytes both ways, and a reset on one side resets the other. */
interface Relay {
  port: number;
  /** Errors either side of the relay saw (a reset from the broker shows here). */
  errors: string[];
  close(): Promise<void>;
}

async function startRelay(target: number): Promise<Relay> {
  const errors: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', (e) => {
      errors.push(`client side: ${e.message}`);
      upstream.destroy();
    });
    upstream.on('error', (e) => {
      errors.push(`broker side: ${e.message}`);
      client.resetAndDestroy();
    });
    upstream.on('close', () => client.destroySoon());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    errors,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

let broker: RunningBroker;
let dataDir: string;
beforeAll(async () => {
  // A store, so confirms of persistent messages wait for a write that is still running at close.
  dataDir = await mkdtemp(path.join(tmpdir(), 'warren-closing-'));
  broker = await startBroker({ dataDir });
});
afterAll(async () => {
  await broker.close();
  await rm(dataDir, { recursive: true, force: true });
});

const open: ChannelModel[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close().catch(() => undefined);
});

/** Connects, recording every error the connection reports. */
async function connect(port: number): Promise<{ conn: ChannelModel; errors: string[] }> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  const errors: string[] = [];
  conn.on('error', (e: Error) => errors.push(e.message));
  return { conn, errors };
}

const brokerSockets = (): number => broker.broker.connections.size;

/** A publisher that is still writing when it closes: amqplib sends what it has queued, then close. */
async function publishWhileClosing(port: number): Promise<string[]> {
  const { conn, errors } = await connect(port);
  const ch = await conn.createChannel();
  ch.on('error', (e: Error) => errors.push(`channel: ${e.message}`));
  const { queue } = await ch.assertQueue('', { exclusive: true });
  const body = Buffer.alloc(2048, 'x');
  for (let i = 0; i < 3000; i++) ch.sendToQueue(queue, body);
  await conn.close();
  return errors;
}

describe('connection.close from the client', () => {
  it('a client publishing up to its close gets no error, directly', async () => {
    for (let i = 0; i < 5; i++) expect(await publishWhileClosing(broker.port)).toEqual([]);
    await waitUntil(() => brokerSockets() === 0, 'the broker holds no socket afterwards', 5000);
  });

  it('a client publishing up to its close gets no error through a TCP relay', async () => {
    const relay = await startRelay(broker.port);
    try {
      for (let i = 0; i < 5; i++) expect(await publishWhileClosing(relay.port)).toEqual([]);
      expect(relay.errors).toEqual([]);
      await waitUntil(() => brokerSockets() === 0, 'the broker holds no socket afterwards', 5000);
    } finally {
      await relay.close();
    }
  });

  it('a client that keeps writing after close-ok sees no reset, directly or through a relay, and the broker drops the socket when it closes', async () => {
    const relay = await startRelay(broker.port);
    try {
      for (const port of [broker.port, relay.port]) {
        const raw = await RawAmqp.connect(port);
        const socketErrors: string[] = [];
        raw.socket.on('error', (e) => socketErrors.push(e.message));
        await raw.handshake();
        await raw.openChannel(1);
        const publish = methodFrame(1, [BASIC, 40], u16(0), shortstr(''), shortstr('nowhere'), bits(false, false));
        raw.write(methodFrame(0, M.connectionClose, u16(200), shortstr('bye'), u16(0), u16(0)));
        // Frames queued before the close still go out after it, as amqplib's do.
        const writer = setInterval(() => raw.write(publish), 5);
        try {
          await raw.expectMethod(M.connectionCloseOk);
          await new Promise((r) => setTimeout(r, 300));
        } finally {
          clearInterval(writer);
        }
        expect(raw.closed, `port ${port === relay.port ? 'relay' : 'direct'}`).toBe(false);
        raw.socket.end();
        await raw.waitSocketClosed(2000);
        expect(socketErrors).toEqual([]);
      }
      expect(relay.errors).toEqual([]);
      await waitUntil(() => brokerSockets() === 0, 'the broker holds no socket afterwards', 2000);
    } finally {
      await relay.close();
    }
  });

  it('after close-ok the broker reads on and leaves the socket to the client, then drops it if the client never closes', async () => {
    const raw = await RawAmqp.connect(broker.port);
    await raw.handshake();
    raw.write(methodFrame(0, M.connectionClose, u16(200), shortstr('bye'), u16(0), u16(0)));
    await raw.expectMethod(M.connectionCloseOk);
    // Still writing after close-ok: dropped unread, no reply, no reset.
    for (let i = 0; i < 20; i++) raw.write(methodFrame(1, [BASIC, 40], u16(0), shortstr(''), shortstr('x'), bits(false, false)));
    expect(await raw.waitSocketClosed(1000)).toBe(false);
    // A client that never closes loses the socket after a bounded wait.
    expect(await raw.waitSocketClosed(5000)).toBe(true);
    expect(await remainingFrames(raw)).toBe(0);
  });
});

describe('connection.close from the broker', () => {
  it('everything but close-ok is dropped; after close-ok the broker closes', async () => {
    const raw = await RawAmqp.connect(broker.port);
    await raw.handshake();
    raw.write(connectionOpenFrame()); // a second connection.open: 503 COMMAND_INVALID
    const close = await raw.expectMethod(M.connectionClose);
    expect(close.args.readUInt16BE(0)).toBe(503);
    // Frames sent before the client read the close are dropped, not answered.
    raw.write(channelOpenFrame(1));
    await new Promise((r) => setTimeout(r, 200));
    expect(raw.closed).toBe(false);
    raw.write(connectionCloseOkFrame());
    expect(await raw.waitSocketClosed(2000)).toBe(true);
    expect(await remainingFrames(raw)).toBe(0);
  });
});

describe('channel.close', () => {
  it('nothing for a channel follows its close-ok, even with confirms still waiting for the store', async () => {
    const raw = await RawAmqp.connect(broker.port);
    await raw.handshake();
    await raw.openChannel(1);
    raw.write(queueDeclareFrame(1, 'closing-raw', { durable: true }));
    await raw.expectMethod([50, 11]);
    raw.write(methodFrame(1, [85, 10], bits(false))); // confirm.select
    await raw.expectMethod([85, 11]);
    // 1,000 persistent publishes and channel.close in one write: the store is still writing the
    // batch when the close arrives.
    const body = Buffer.alloc(1024, 'p');
    const persistentHeader = frame(FRAME_HEADER, 1, Buffer.concat([u16(BASIC), u16(0), u64(body.length), u16(0x1000), u8(2)]));
    const publish = Buffer.concat([basicPublishFrame(1, '', 'closing-raw'), persistentHeader, contentBodyFrame(1, body)]);
    raw.write(Buffer.concat([...Array.from({ length: 1000 }, () => publish), methodFrame(1, [20, 40], u16(200), shortstr('bye'), u16(0), u16(0))]));
    let acked = 0;
    for (;;) {
      const f = await raw.nextFrame(5000);
      if (!f) throw new Error('no channel.close-ok');
      const m = f.type === 1 ? [f.payload.readUInt16BE(0), f.payload.readUInt16BE(2)].join('.') : `type ${f.type}`;
      if (m === '60.80') {
        const tag = Number(f.payload.readBigUInt64BE(4));
        acked = f.payload[12]! & 1 ? tag : acked + 1;
      } else if (m === '20.41') break;
    }
    expect(acked).toBe(1000);
    await new Promise((r) => setTimeout(r, 300));
    expect(await remainingFrames(raw)).toBe(0);
    raw.write(channelOpenFrame(1));
    await raw.expectMethod(M.channelOpenOk);
    raw.write(methodFrame(1, [50, 40], u16(0), shortstr('closing-raw'), bits(false, false, false))); // queue.delete
    await raw.expectMethod([50, 41]);
    raw.destroy();
  });

  it('a confirm channel closed right after 1,000 persistent publishes gets its confirms before close-ok, and nothing after', async () => {
    const { conn, errors } = await connect(broker.port);
    open.push(conn);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => {
      uncaught.push(e);
    };
    process.on('uncaughtException', onUncaught);
    try {
      const setup = await conn.createChannel();
      const q = (await setup.assertQueue('closing-confirms', { durable: true })).queue;
      await setup.purgeQueue(q);
      for (let round = 0; round < 5; round++) {
        const ch = await conn.createConfirmChannel();
        let settled = 0;
        for (let i = 0; i < 1000; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true }, () => settled++);
        // amqplib ignores confirms once it is closing and fails what is left at close-ok; a
        // confirm after close-ok reaches it as a frame on an unknown channel and kills the connection.
        await ch.close();
        expect(settled).toBe(1000);
      }
      // The connection is still healthy: a frame on a closed channel would have killed it.
      const ch = await conn.createChannel();
      expect((await ch.checkQueue(q)).messageCount).toBe(5000);
      await setup.deleteQueue(q);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
    expect(errors).toEqual([]);
  });
});
