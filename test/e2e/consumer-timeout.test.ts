// The consumer acknowledgement timeout (RabbitMQ's consumer_timeout; per queue x-consumer-timeout
// and a policy's consumer-timeout, RabbitMQ 3.12+): a channel holding a delivery unacked past it is
// closed with 406 and RabbitMQ's text, and what it held goes back to the queue, redelivered.
// Driven by real amqplib clients; the broker runs with short timeouts.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, type Api } from '../helpers/management-client.js';
import { sleep, waitUntil } from '../helpers/async.js';

let broker: RunningBroker;
let api: Api;
const openConns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await startBroker({ port: 0, host: '127.0.0.1', managementPort: -1, logLevel: 'silent', consumerTimeoutMs: 2_000 });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
});

afterAll(async () => {
  await broker?.close();
});

afterEach(async () => {
  await Promise.all(openConns.splice(0).map((c) => c.close().catch(() => undefined)));
});

const uid = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

async function connect(): Promise<ChannelModel> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

/** Resolves with the channel's error once the broker closes it. */
function closedWith(ch: Channel): Promise<Error & { code?: number }> {
  return new Promise((resolve) => ch.once('error', resolve));
}

describe('consumer acknowledgement timeout', () => {
  it('a channel holding a delivery past consumer_timeout is closed with 406; the message comes back redelivered, other channels carry on', async () => {
    const conn = await connect();
    const q = uid('ct');
    const slow = await conn.createChannel();
    await slow.assertQueue(q, { durable: false });
    const closed = closedWith(slow);
    const got: ConsumeMessage[] = [];
    await slow.consume(q, (m) => m && got.push(m));
    // A busy channel on the same connection that acks promptly is left alone.
    const busy = await conn.createChannel();
    const q2 = uid('ct-busy');
    await busy.assertQueue(q2, { durable: false });
    let acked = 0;
    await busy.consume(q2, (m) => {
      if (!m) return;
      busy.ack(m);
      acked++;
    });
    const pub = await conn.createChannel();
    pub.sendToQueue(q, Buffer.from('held'));
    const t0 = Date.now();
    const pumping = setInterval(() => pub.sendToQueue(q2, Buffer.from('x')), 50);
    const err = await closed;
    clearInterval(pumping);
    const after = Date.now() - t0;
    expect(got.map((m) => m.content.toString())).toEqual(['held']);
    expect(err.code).toBe(406);
    expect(err.message).toContain(
      'PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 2000 ms. This timeout value can be configured, see consumers doc guide to learn more',
    );
    // Never before the timeout; at most two sweeps after it.
    expect(after).toBeGreaterThanOrEqual(2_000);
    expect(after).toBeLessThan(15_000);
    expect(acked).toBeGreaterThan(0);
    // The connection and its other channels are untouched; the message is back, flagged.
    const again = await conn.createChannel();
    const m = await again.get(q, { noAck: true });
    expect(m && m.content.toString()).toBe('held');
    expect(m && m.fields.redelivered).toBe(true);
    await busy.checkQueue(q2);
  });

  it('a delivery acked in time keeps the channel open', async () => {
    const ch = await (await connect()).createChannel();
    const q = uid('ct-ok');
    await ch.assertQueue(q, { durable: false });
    let failed = false;
    ch.on('error', () => (failed = true));
    await ch.consume(q, (m) => {
      if (m) setTimeout(() => ch.ack(m), 1_000);
    });
    for (let i = 0; i < 4; i++) {
      ch.sendToQueue(q, Buffer.from(`m${i}`));
      await sleep(1_000);
    }
    await sleep(2_000);
    expect(failed).toBe(false);
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
  });

  it("x-consumer-timeout on the queue sets that queue's timeout", async () => {
    const conn = await connect();
    const ch = await conn.createChannel();
    const q = uid('ct-arg');
    await ch.assertQueue(q, { durable: false, arguments: { 'x-consumer-timeout': 1_000 } });
    const closed = closedWith(ch);
    await ch.consume(q, () => undefined);
    ch.sendToQueue(q, Buffer.from('x'));
    expect((await closed).message).toContain('Timeout value used: 1000 ms');
    const bad = await conn.createChannel();
    const refused = closedWith(bad);
    await bad.assertQueue(uid('ct-bad'), { arguments: { 'x-consumer-timeout': 'soon' } }).catch(() => undefined);
    expect((await refused).message).toContain("invalid arg 'x-consumer-timeout'");
  });

  it("a policy's consumer-timeout applies, the lower of it and the queue's argument", async () => {
    const q = uid('ct-pol');
    const r = await api('PUT', `/api/policies/%2F/${q}`, { body: { pattern: `^${q}$`, definition: { 'consumer-timeout': 1_000 }, 'apply-to': 'queues' } });
    expect([201, 204], r.text).toContain(r.status);
    const ch = await (await connect()).createChannel();
    await ch.assertQueue(q, { durable: false, arguments: { 'x-consumer-timeout': 60_000 } });
    const closed = closedWith(ch);
    await ch.consume(q, () => undefined);
    ch.sendToQueue(q, Buffer.from('x'));
    expect((await closed).message).toContain('Timeout value used: 1000 ms');
    const bad = await api('PUT', `/api/policies/%2F/${q}-bad`, { body: { pattern: 'x', definition: { 'consumer-timeout': -1 } } });
    expect(bad.status).toBe(400);
    await waitUntil(async () => (await api('DELETE', `/api/policies/%2F/${q}`)).status === 204, 'policy deleted', 5_000);
  });

  it('basic.get deliveries time out too', async () => {
    const conn = await connect();
    const ch = await conn.createChannel();
    const q = uid('ct-get');
    await ch.assertQueue(q, { durable: false });
    ch.sendToQueue(q, Buffer.from('x'));
    const closed = closedWith(ch);
    await waitUntil(async () => (await ch.get(q, { noAck: false })) !== false, 'a message got', 5_000);
    expect((await closed).code).toBe(406);
  });
});
