// Publisher confirms mean "on disk": a persistent message on a durable queue (classic, quorum,
// stream) is confirmed only once the store batch holding it is written and fsynced, by default.
// A spy on the broker's LevelDB handle holds each written batch back from the store (the write
// happens; the store does not hear it is done) until the test lets it go, and records whether
// LevelDB was asked to sync it. With the writes held, the client makes two round trips on another
// channel: any confirm the broker had sent without waiting would have reached the client before
// the second reply (one socket, in order), so none may have arrived. Real amqplib over TCP.
// (No consumer here: a message that every classic queue it went to is done with is confirmed
// then, written or not, as RabbitMQ does: confirm-on-consume.test.ts.)
import { afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { waitUntil } from '../helpers/async.js';
import { resources } from '../helpers/resources.js';
import { spyOnWrites as spyOn } from '../helpers/store-spy.js';

const res = resources();
const running: RunningBroker[] = [];
const conns: ChannelModel[] = [];
/** Released before the brokers close, or a failed test would leave a write held for ever. */
const spies: { release(): void }[] = [];

afterEach(async () => {
  for (const s of spies.splice(0)) s.release();
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  for (const b of running.splice(0)) await b.close().catch(() => undefined);
});

const spyOnWrites = (b: RunningBroker) => spyOn(b, (release) => spies.push({ release }));

async function start(options: { fsync?: boolean; journalSize?: number } = {}): Promise<RunningBroker> {
  const b = await startBroker({ dataDir: await res.tempDir('warren-confirm-sync-'), logLevel: 'silent', ...options });
  running.push(b);
  return b;
}

async function connect(b: RunningBroker): Promise<ChannelModel> {
  const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
  c.on('error', () => undefined);
  conns.push(c);
  return c;
}

describe.each([
  ['classic', {}],
  ['quorum', { 'x-queue-type': 'quorum' }],
  ['stream', { 'x-queue-type': 'stream' }],
])('confirms of persistent messages on a %s queue', (type, args) => {
  it('go out only after the batch holding them is written with fsync (the default)', async () => {
    const b = await start();
    const spy = spyOnWrites(b);
    const conn = await connect(b);
    const ch = await conn.createConfirmChannel();
    const other = await conn.createChannel();
    const q = `confirm-sync-${type}`;
    await ch.assertQueue(q, { durable: true, arguments: args });
    spy.hold();
    let confirmed = 0;
    const all: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      all.push(
        new Promise<void>((resolve, reject) =>
          ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true }, (err) => {
            if (err) return reject(err instanceof Error ? err : new Error(String(err)));
            if (confirmed++ === 0) spy.events.push('confirm');
            resolve();
          }),
        ),
      );
    }
    // Two round trips that do not touch the store: a confirm sent early would be in by now.
    await other.checkExchange('amq.direct');
    await other.checkExchange('amq.direct');
    await waitUntil(() => spy.held > 0, 'the batch with the messages to reach LevelDB');
    expect(confirmed, 'confirms sent while the batch holding the messages was not yet written').toBe(0);
    spy.release();
    await Promise.all(all);
    expect(confirmed).toBe(50);
    // The first confirm comes after a synced write of messages.
    const first = spy.events.indexOf('confirm');
    expect(spy.events.slice(0, first)).toContain('write sync=true puts=true');
  });
});

describe.each([
  ['in the journal (the default)', {}, 'journal'],
  ['by LevelDB (--journal-size 0)', { journalSize: 0 }, 'level'],
] as const)('fsync %s', (_how, options, by) => {
  it('syncs batches of persistent messages, not batches of acks alone', async () => {
    const b = await start(options);
    const spy = spyOnWrites(b);
    const conn = await connect(b);
    const ch = await conn.createConfirmChannel();
    const q = 'fsync-acks';
    await ch.assertQueue(q, { durable: true });
    for (let i = 0; i < 20; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
    expect(spy.writes.filter((w) => w.puts > 0).every((w) => w.sync && w.by === by)).toBe(true);
    const before = spy.writes.length;
    const consumer = await conn.createChannel();
    let got = 0;
    await consumer.consume(q, (m) => {
      if (m) {
        got++;
        consumer.ack(m);
      }
    });
    await waitUntil(() => got === 20, 'the 20 messages');
    // The acks' batch: deletes only, written without sync.
    await waitUntil(() => spy.writes.slice(before).some((w) => w.dels > 0), 'the acks to be written');
    const acks = spy.writes.slice(before).filter((w) => w.dels > 0);
    expect(acks.every((w) => !w.sync && w.puts === 0)).toBe(true);
  });
});

describe('fsync', () => {
  it('--no-fsync (fsync: false) syncs nothing, and still confirms after the write', async () => {
    const b = await start({ fsync: false });
    const spy = spyOnWrites(b);
    const conn = await connect(b);
    const ch = await conn.createConfirmChannel();
    const q = 'no-fsync';
    await ch.assertQueue(q, { durable: true });
    spy.hold();
    let confirmed = 0;
    ch.sendToQueue(q, Buffer.from('m'), { persistent: true }, () => confirmed++);
    const other = await conn.createChannel();
    await other.checkExchange('amq.direct');
    await other.checkExchange('amq.direct');
    await waitUntil(() => spy.held > 0, 'the batch to reach LevelDB');
    expect(confirmed).toBe(0);
    spy.release();
    await ch.waitForConfirms();
    expect(confirmed).toBe(1);
    expect(spy.writes.some((w) => w.sync)).toBe(false);
  });
});
