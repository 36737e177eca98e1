// Connection lifecycle over real sockets: heartbeats and dead peers, AMQPLAIN, tune limits,
// the handshake timeout, and SIGTERM closing clients with 320.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { spawnBroker } from '../helpers/broker-process.js';
import { FRAME_HEARTBEAT, RawAmqp, tuneOkFrame, PROTOCOL_HEADER, startOkFrame, M } from '../helpers/raw-amqp.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker({ heartbeat: 1, handshakeTimeoutMs: 500 });
});
afterAll(async () => {
  await broker.close();
});
const url = (): string => `amqp://guest:guest@127.0.0.1:${broker.port}`;

describe('heartbeats', () => {
  it('the server sends heartbeats at the negotiated interval', async () => {
    const raw = await RawAmqp.connect(broker.port);
    await raw.handshake({ heartbeat: 1 });
    let beats = 0;
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      const f = await raw.nextFrame(until - Date.now());
      if (f?.type === FRAME_HEARTBEAT) beats++;
      // Keep ourselves alive meanwhile.
      raw.write(Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]));
    }
    expect(beats).toBeGreaterThanOrEqual(2);
    raw.destroy();
  });

  it('a silent peer is dropped after two missed intervals and its unacked message is requeued', async () => {
    const conn = await amqp.connect(url());
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('hb-requeue', { exclusive: false, autoDelete: false })).queue;
    ch.sendToQueue(q, Buffer.from('held'));

    // A raw client takes the message without acking, then goes silent (no heartbeats).
    const raw = await RawAmqp.connect(broker.port);
    await raw.handshake({ heartbeat: 1 });
    await raw.openChannel(1);
    raw.write(Buffer.concat([Buffer.from([1, 0, 1]), lengthPrefixed(Buffer.concat([u16(60), u16(70), u16(0), shortstr(q), Buffer.from([0])]))]));
    await raw.expectMethod(M.basicGetOk);
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
    const t0 = Date.now();
    expect(await raw.waitSocketClosed(5000)).toBe(true);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThan(1000);
    const m = await ch.get(q, { noAck: true });
    expect(m && m.content.toString()).toBe('held');
    expect(m && m.fields.redelivered).toBe(true);
    await conn.close();
  });
});

describe('authentication and tuning', () => {
  it('accepts AMQPLAIN', async () => {
    const conn = await amqp.connect(url(), { credentials: amqp.credentials.amqplain('guest', 'guest') });
    const ch = await conn.createChannel();
    await ch.assertQueue('', { exclusive: true });
    await conn.close();
  });

  it('refuses AMQPLAIN with a wrong password (403)', async () => {
    await expect(amqp.connect(url(), { credentials: amqp.credentials.amqplain('guest', 'nope') })).rejects.toThrow(/ACCESS.REFUSED|403/);
  });

  it('refuses a tune-ok frame_max below 4096 with 530', async () => {
    const raw = await RawAmqp.connect(broker.port);
    raw.write(PROTOCOL_HEADER);
    await raw.expectMethod(M.connectionStart);
    raw.write(startOkFrame());
    await raw.expectMethod(M.connectionTune);
    raw.write(tuneOkFrame(2047, 1024, 0));
    const r = await raw.waitForClose();
    expect(r.kind === 'connection.close' && r.replyCode).toBe(530);
    raw.destroy();
  });

  it('closes a socket that never finishes the handshake', async () => {
    const raw = await RawAmqp.connect(broker.port);
    expect(await raw.waitSocketClosed(3000)).toBe(true);
  });

  it('uses a frame_max the client asks for below the server proposal', async () => {
    const conn = await amqp.connect(url(), { frameMax: 8192 });
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const body = Buffer.alloc(100_000, 3);
    ch.sendToQueue(q, body);
    const m = await new Promise<Buffer>((r) => void ch.consume(q, (x) => x && r(x.content), { noAck: true }));
    expect(m.equals(body)).toBe(true);
    await conn.close();
  });
});

describe('shutdown', () => {
  it('SIGTERM closes clients with 320 CONNECTION_FORCED and exits 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-sigterm-'));
    try {
      const b = await spawnBroker({ dataDir });
      const conn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
      // amqplib treats 320 as a non-fatal close: it comes with 'close', not 'error'.
      conn.on('error', () => {});
      const closed = new Promise<number | undefined>((r) => conn.once('close', (e?: { code: number }) => r(e?.code)));
      const code = await b.stop();
      expect(await closed).toBe(320);
      expect(code).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function shortstr(s: string): Buffer {
  return Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
}
/** size, payload and frame-end of a frame whose type and channel were already written. */
function lengthPrefixed(payload: Buffer): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(payload.length);
  return Buffer.concat([b, payload, Buffer.from([0xce])]);
}

describe('basic.recover', () => {
  it('refuses requeue=false with 540 NOT_IMPLEMENTED, as RabbitMQ does', async () => {
    const raw = await RawAmqp.connect(broker.port);
    await raw.handshake();
    await raw.openChannel(1);
    // basic.recover (60, 110) with requeue=false
    raw.write(Buffer.concat([Buffer.from([1, 0, 1]), lengthPrefixed(Buffer.concat([u16(60), u16(110), Buffer.from([0])]))]));
    const r = await raw.waitForClose();
    expect(r.kind === 'connection.close' && r.replyCode).toBe(540);
    raw.destroy();
  });
});
