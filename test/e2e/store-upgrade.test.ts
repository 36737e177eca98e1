// A data directory written before persistent messages were kept in segments (one LevelDB record
// per message, under 'm') opens as it was: its messages are delivered in order among the new
// ones, acks and redelivered flags of them stick across restarts. The old layout is written here
// with LevelDB directly, byte for byte as the earlier store wrote it (codec.ts keeps its encoders).
// So does one of segments of version 1, whose records each carry their names and properties.
import { afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel, GetMessage } from 'amqplib';
import { Level } from 'level';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { encodeMessage, encodeQueue, messageKey, messagePrefix, queueDefKey } from '../../src/store/codec.js';
import type { StoredMessage } from '../../src/store/store.js';
import { resources } from '../helpers/resources.js';

const res = resources();
const running: RunningBroker[] = [];
const conns: ChannelModel[] = [];

afterEach(async () => {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  for (const b of running.splice(0)) await b.close().catch(() => undefined);
});

async function start(dataDir: string): Promise<{ b: RunningBroker; conn: ChannelModel }> {
  const b = await startBroker({ dataDir, logLevel: 'silent' });
  running.push(b);
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
  conn.on('error', () => undefined);
  conns.push(conn);
  return { b, conn };
}

async function stop(): Promise<void> {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  for (const b of running.splice(0)) await b.close();
}

/** delivery_mode 2, nothing else: the property list of a persistent message. */
const PERSISTENT = Buffer.from([0x10, 0x00, 2]);

describe('a data directory of the layout before segments', () => {
  it('delivers its messages, keeps their acks and redelivered flags, and takes new ones after them', async () => {
    const dataDir = await res.tempDir('warren-upgrade-');
    const db = new Level<Buffer, Buffer>(dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    await db.put(queueDefKey('/', 'old'), encodeQueue({ vhost: '/', name: 'old', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) }));
    await db.batch(
      [1, 2, 3, 4, 5, 6].map((seq) => ({
        type: 'put' as const,
        key: messageKey(messagePrefix('/', 'old'), seq),
        value: encodeMessage({ seq, redelivered: false, exchange: '', routingKey: 'old', properties: PERSISTENT, body: Buffer.from(`old-${seq}`), expiresAt: 0 }),
      })),
    );
    await db.put(Buffer.from('s\0clean'), Buffer.from('1'));
    await db.close();

    let { conn } = await start(dataDir);
    const ch = await conn.createConfirmChannel();
    const got: GetMessage[] = [];
    for (let i = 0; i < 6; i++) {
      const m = await ch.get('old');
      if (m) got.push(m);
    }
    expect(got.map((m) => [m.content.toString(), m.fields.redelivered])).toEqual([1, 2, 3, 4, 5, 6].map((n) => [`old-${n}`, false]));
    for (const m of got.slice(0, 3)) ch.ack(m);
    ch.sendToQueue('old', Buffer.from('new-1'), { persistent: true });
    ch.sendToQueue('old', Buffer.from('new-2'), { persistent: true });
    await ch.waitForConfirms();
    // old-4…6 stay unacked: the channel's close puts them back, flagged redelivered.
    await ch.close();
    await stop();

    ({ conn } = await start(dataDir));
    const ch2 = await conn.createChannel();
    const after: [string, boolean][] = [];
    for (;;) {
      const m = await ch2.get('old', { noAck: true });
      if (!m) break;
      after.push([m.content.toString(), m.fields.redelivered]);
    }
    expect(after).toEqual([
      ['old-4', true],
      ['old-5', true],
      ['old-6', true],
      ['new-1', false],
      ['new-2', false],
    ]);
    await stop();

    ({ conn } = await start(dataDir));
    const ch3 = await conn.createChannel();
    expect((await ch3.checkQueue('old')).messageCount).toBe(0);
  });
});

/** A segment as version 1 wrote it: version(1) count(4), then each record whole, length(4) first. */
function segmentV1(ms: StoredMessage[]): Buffer {
  const head = Buffer.alloc(5);
  head[0] = 1;
  head.writeUInt32BE(ms.length, 1);
  const parts = [head];
  for (const m of ms) {
    const rec = encodeMessage(m);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(rec.length);
    parts.push(len, rec);
  }
  return Buffer.concat(parts);
}

describe('a data directory of segments of version 1 (no defaults)', () => {
  it('delivers their messages in order, then new ones written with defaults, across restarts', async () => {
    const dataDir = await res.tempDir('warren-upgrade-v1-');
    const db = new Level<Buffer, Buffer>(dataDir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    await db.put(queueDefKey('/', 'seg'), encodeQueue({ vhost: '/', name: 'seg', autoDelete: false, arguments: Buffer.from([0, 0, 0, 0]) }));
    const json = Buffer.from([0x90, 0x00, 16, ...Buffer.from('application/json'), 2]);
    const msg = (seq: number, routingKey: string, properties: Buffer): StoredMessage => ({ seq, redelivered: false, exchange: 'amq.direct', routingKey, properties, body: Buffer.from(`v1-${seq}`), expiresAt: 0 });
    await db.batch([
      { type: 'put', key: messageKey(messagePrefix('/', 'seg', 'M'), 1), value: segmentV1([msg(1, 'a', PERSISTENT), msg(2, 'a', PERSISTENT), msg(3, 'b', json)]) },
      { type: 'put', key: messageKey(messagePrefix('/', 'seg', 'M'), 4), value: segmentV1([msg(4, 'b', json), msg(5, 'a', PERSISTENT)]) },
    ]);
    await db.close();

    let { conn } = await start(dataDir);
    const ch = await conn.createConfirmChannel();
    const got: GetMessage[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await ch.get('seg');
      if (m) got.push(m);
    }
    const seen = (m: GetMessage): [string, string, string, string | undefined] => [m.content.toString(), m.fields.exchange, m.fields.routingKey, m.properties.contentType as string | undefined];
    expect(got.map(seen)).toEqual([
      ['v1-1', 'amq.direct', 'a', undefined],
      ['v1-2', 'amq.direct', 'a', undefined],
      ['v1-3', 'amq.direct', 'b', 'application/json'],
      ['v1-4', 'amq.direct', 'b', 'application/json'],
      ['v1-5', 'amq.direct', 'a', undefined],
    ]);
    for (const m of got.slice(0, 2)) ch.ack(m);
    ch.sendToQueue('seg', Buffer.from('new-1'), { persistent: true, contentType: 'text/plain' });
    ch.sendToQueue('seg', Buffer.from('new-2'), { persistent: true });
    await ch.waitForConfirms();
    await ch.close();
    await stop();

    ({ conn } = await start(dataDir));
    const ch2 = await conn.createChannel();
    const after: [string, boolean, string, string | undefined][] = [];
    for (;;) {
      const m = await ch2.get('seg', { noAck: true });
      if (!m) break;
      after.push([m.content.toString(), m.fields.redelivered, m.fields.routingKey, m.properties.contentType as string | undefined]);
    }
    expect(after).toEqual([
      ['v1-3', true, 'b', 'application/json'],
      ['v1-4', true, 'b', 'application/json'],
      ['v1-5', true, 'a', undefined],
      ['new-1', false, 'seg', 'text/plain'],
      ['new-2', false, 'seg', undefined],
    ]);
  });
});
