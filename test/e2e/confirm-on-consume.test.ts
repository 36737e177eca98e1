// RabbitMQ's rule for publisher confirms: "a persistent message is confirmed when it is persisted
// to disk or when it is consumed on every queue" (its blog post introducing confirms; reject
// without requeue and TTL expiry count as consumed). So a persistent message that a consumer acks
// before the store has written it is confirmed then, and one acked before its batch was even
// started is never written (src/server/confirms.ts ConfirmWait). Quorum queues and streams still
// confirm on the write only. A spy on the broker's LevelDB handle (test/helpers/store-spy.ts)
// holds each written batch back from the store; real amqplib over TCP. (A publish to a queue that
// has no consumer at that moment leaves its confirm to the write: a publish-only flow makes no
// ConfirmWait.)
import { describe, expect, it } from 'vitest';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { sleep, waitUntil } from '../helpers/async.js';
import { resources } from '../helpers/resources.js';
import { spyOnWrites as spyOn } from '../helpers/store-spy.js';

// Released after each test in reverse order: connections, then the spy's hold, then the broker.
const res = resources();

async function start(dataDir?: string): Promise<RunningBroker> {
  const b = await startBroker({ dataDir: dataDir ?? (await res.tempDir('warren-confirm-consume-')), logLevel: 'silent' });
  res.defer(() => b.close());
  return b;
}

const spyOnWrites = (b: RunningBroker) => spyOn(b, (release) => res.defer(async () => release()));
const connect = (b: RunningBroker): Promise<ChannelModel> => res.connect(b.port);

/** Publishes n persistent messages to exchange; counts their confirms (ok ones) in the result. */
function publish(ch: ConfirmChannel, exchange: string, key: string, n: number): { confirmed: number; all: Promise<void> } {
  const r = { confirmed: 0, all: Promise.resolve() };
  const each: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    each.push(
      new Promise<void>((resolve, reject) =>
        ch.publish(exchange, key, Buffer.from(`m${i}`), { persistent: true }, (err) => {
          if (err) return reject(err instanceof Error ? err : new Error(String(err)));
          r.confirmed++;
          resolve();
        }),
      ),
    );
  }
  r.all = Promise.all(each).then(() => undefined);
  return r;
}

/** Consumes queue, acking (or rejecting without requeue) each message at once; counts them. */
async function settleAll(ch: Channel, queue: string, how: 'ack' | 'reject' = 'ack'): Promise<{ got: number }> {
  const r = { got: 0 };
  await ch.consume(queue, (m) => {
    if (!m) return;
    r.got++;
    if (how === 'ack') ch.ack(m);
    else ch.reject(m, false);
  });
  return r;
}

/** Two round trips on a channel that does not touch the store: any confirm already sent is in by then. */
async function roundTrips(ch: Channel): Promise<void> {
  await ch.checkExchange('amq.direct');
  await ch.checkExchange('amq.direct');
}

describe('a persistent message consumed on every queue before the store has written it', () => {
  it('is confirmed then, on a classic queue, acked or rejected', async () => {
    const b = await start();
    const spy = spyOnWrites(b);
    const conn = await connect(b);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('coc-ack', { durable: true });
    await ch.assertQueue('coc-reject', { durable: true });
    const acked = await settleAll(await conn.createChannel(), 'coc-ack');
    const rejected = await settleAll(await conn.createChannel(), 'coc-reject', 'reject');
    await waitUntil(() => spy.held === 0, 'the declarations to be written');
    const declared = spy.writes.length;
    spy.hold();
    const a = publish(ch, '', 'coc-ack', 20);
    await waitUntil(() => spy.held > 0 && acked.got === 20, 'the batch held and the 20 acked');
    await a.all;
    expect(a.confirmed).toBe(20);
    const r = publish(ch, '', 'coc-reject', 10);
    await r.all;
    expect(rejected.got).toBe(10);
    // Every write of the messages is still held: the confirms came from the consumers.
    expect(spy.writes.slice(declared)).toEqual([]);
  });

  it('waits for every durable queue it went to, and for the store when one of them is a quorum queue', async () => {
    const b = await start();
    const spy = spyOnWrites(b);
    const conn = await connect(b);
    const ch = await conn.createConfirmChannel();
    const other = await conn.createChannel();
    await ch.assertExchange('coc-fan', 'fanout', { durable: true });
    await ch.assertExchange('coc-fan-qq', 'fanout', { durable: true });
    for (const [q, x, args] of [
      ['coc-a', 'coc-fan', {}],
      ['coc-b', 'coc-fan', {}],
      ['coc-c', 'coc-fan-qq', {}],
      ['coc-qq', 'coc-fan-qq', { 'x-queue-type': 'quorum' }],
    ] as const) {
      await ch.assertQueue(q, { durable: true, arguments: args });
      await ch.bindQueue(q, x, '');
    }
    // A transient queue beside them: it does not count (its copy is never stored).
    await ch.assertQueue('coc-transient', { durable: false });
    await ch.bindQueue('coc-transient', 'coc-fan', '');

    await sleep(50);
    const declared = spy.writes.length;
    // coc-a acks at once; coc-b holds its deliveries unacked until told.
    const consumerA = await settleAll(await conn.createChannel(), 'coc-a');
    const b2 = await conn.createChannel();
    let gotB = 0;
    await b2.consume('coc-b', (m) => {
      if (m) gotB++;
    });
    spy.hold();
    const two = publish(ch, 'coc-fan', '', 5);
    await waitUntil(() => consumerA.got === 5 && gotB === 5 && spy.held > 0, 'coc-a to ack its 5, coc-b to hold its 5');
    await roundTrips(other);
    await sleep(50);
    expect(two.confirmed, 'confirmed with coc-b still holding the messages').toBe(0);
    b2.ackAll();
    await two.all;
    expect(spy.writes.slice(declared)).toEqual([]);
    spy.release();

    // A classic queue and a quorum queue, both acked: the quorum queue's confirm is its write.
    await waitUntil(() => spy.held === 0, 'the writes to go');
    const c = await settleAll(await conn.createChannel(), 'coc-c');
    const qq = await settleAll(await conn.createChannel(), 'coc-qq');
    spy.hold();
    const mixed = publish(await conn.createConfirmChannel(), 'coc-fan-qq', '', 5);
    await waitUntil(() => c.got === 5 && qq.got === 5 && spy.held > 0, 'both queues to ack their 5');
    await roundTrips(other);
    await sleep(50);
    expect(mixed.confirmed, 'confirmed before the write, with a quorum queue among the queues').toBe(0);
    spy.release();
    await mixed.all;
    expect(mixed.confirmed).toBe(5);
  });

  it('is never written when acked before its batch starts, and a restart finds nothing of it', async () => {
    const dir = await res.tempDir('warren-confirm-consume-restart-');
    let b = await start(dir);
    const spy = spyOnWrites(b);
    const conn = await connect(b);
    const setup = await conn.createConfirmChannel();
    await setup.assertQueue('coc-kept', { durable: true });
    await setup.assertQueue('coc-gone', { durable: true });
    spy.hold();
    // A message nobody consumes: its batch is held, so the next batch cannot start.
    const blocker = publish(await conn.createConfirmChannel(), '', 'coc-kept', 1);
    await waitUntil(() => spy.held > 0, 'the first batch to be held');
    const writesBefore = spy.writes.length;
    const consumer = await settleAll(await conn.createChannel(), 'coc-gone');
    const gone = publish(setup, '', 'coc-gone', 30);
    await gone.all;
    expect(consumer.got).toBe(30);
    expect(blocker.confirmed).toBe(0);
    spy.release();
    await blocker.all;
    // Settle down: every batch after the held one is written.
    await sleep(100);
    await waitUntil(() => spy.held === 0, 'the writes');
    const later = spy.writes.slice(writesBefore);
    // The held batch (the blocker's message) is the only one with a put: the 30 were never written.
    expect(later.filter((w) => w.puts > 0), 'writes of messages after the held batch').toEqual([{ sync: true, by: 'journal', puts: 1, dels: 0 }]);

    await conn.close();
    await b.close();
    b = await start(dir);
    const check = await (await connect(b)).createChannel();
    expect((await check.checkQueue('coc-kept')).messageCount).toBe(1);
    expect((await check.checkQueue('coc-gone')).messageCount).toBe(0);
  });
});
