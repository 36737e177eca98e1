// The loop polls after a write only when the write carries deliveries to a connection that answers
// its deliveries with publishes (src/server/idle-poll.ts, RequestReply): an RPC server and client
// make it poll, a consumer that only acks does not. Real amqplib over TCP against an in-process
// broker; the window is set long (30 ms) so the loop's own utilization shows it.
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from 'amqplib';
import { startBroker } from '../../src/index.js';
import { setIdlePoll } from '../../src/server/idle-poll.js';
import { resources } from '../helpers/resources.js';

const res = resources();
afterEach(() => setIdlePoll(0));

/** The share of `ms` the loop was busy (not blocked in epoll) while this waited on a timer. */
async function busyShare(ms: number): Promise<number> {
  const start = performance.eventLoopUtilization();
  await new Promise((r) => setTimeout(r, ms));
  return performance.eventLoopUtilization(start).utilization;
}

async function broker(): Promise<number> {
  const dir = await res.tempDir('warren-idle-poll-');
  const b = await startBroker({ dataDir: dir, port: 0, host: '127.0.0.1', logLevel: 'silent' });
  res.defer(() => b.close());
  return b.port;
}

async function channel(port: number): Promise<Channel> {
  return (await res.connect(port)).createChannel();
}

describe('idle polling after deliveries to request/reply connections', () => {
  it('an RPC server and client make the loop poll after their deliveries', async () => {
    const port = await broker();
    const server = await channel(port);
    const client = await channel(port);
    await server.assertQueue('rpc');
    const { queue: replies } = await client.assertQueue('', { exclusive: true });
    await server.consume('rpc', (m) => {
      if (!m) return;
      server.sendToQueue(m.properties.replyTo as string, m.content);
      server.ack(m);
    });
    let answered: (() => void) | undefined;
    await client.consume(replies, () => answered?.(), { noAck: true });
    setIdlePoll(30_000);
    for (let i = 0; i < 5; i++) {
      const got = new Promise<void>((r) => (answered = r));
      client.sendToQueue('rpc', Buffer.from(`call ${i}`), { replyTo: replies });
      await got;
    }
    // The last reply's delivery was written to a client that answers: the loop polls for 30 ms.
    expect(await busyShare(60)).toBeGreaterThan(0.3);
    // Then sleeps.
    expect(await busyShare(60)).toBeLessThan(0.2);
  });

  it('a consumer that only acks does not', async () => {
    const port = await broker();
    const publisher = await channel(port);
    const consumer = await channel(port);
    await publisher.assertQueue('work');
    let got: (() => void) | undefined;
    await consumer.consume('work', (m) => {
      if (!m) return;
      consumer.ack(m);
      got?.();
    });
    setIdlePoll(30_000);
    for (let i = 0; i < 5; i++) {
      const delivered = new Promise<void>((r) => (got = r));
      publisher.sendToQueue('work', Buffer.from(`job ${i}`));
      await delivered;
    }
    expect(await busyShare(60)).toBeLessThan(0.2);
  });
});
