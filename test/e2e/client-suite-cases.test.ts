// Behaviours that client libraries' own test suites check and Warren got wrong: RabbitMQ's Java
// client's functional and server tests (rabbitmq-java-client v5.0.0) and php-amqp's phpt tests
// (v1.11.0), each reproduced with amqplib over a real socket. Every case passes against RabbitMQ
// 3.10.8 too (AMQP_URL=amqp://guest:guest@127.0.0.1:PORT npx vitest run test/e2e/client-suite-cases.test.ts).
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { brokerUnderTest, type BrokerUnderTest } from '../helpers/broker-under-test.js';
import { sleep, waitUntil } from '../helpers/async.js';

type AmqpErr = Error & { code?: number };

let broker: BrokerUnderTest;
const conns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await brokerUnderTest();
});
afterAll(async () => {
  await broker?.close();
});
afterEach(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
});

const uid = (p: string): string => `${p}-${randomUUID().slice(0, 8)}`;

async function open(): Promise<{ conn: ChannelModel; ch: Channel }> {
  const conn = await amqp.connect(broker.url());
  conn.on('error', () => undefined);
  conns.push(conn);
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  return { conn, ch };
}

/** The error that closes a fresh channel of conn when f runs on it. */
async function refusal(conn: ChannelModel, f: (ch: Channel) => Promise<unknown> | void): Promise<AmqpErr> {
  const ch = await conn.createChannel();
  const closed = new Promise<AmqpErr>((resolve) => ch.on('error', resolve));
  try {
    await f(ch);
  } catch {
    // the channel's error event carries the reply
  }
  return closed;
}

describe('a dispatch the tick has not run yet happens before what follows on the wire', () => {
  it('a message published while a consumer has room goes to it, not to a basic.get right after (BindingLifecycle)', async () => {
    const { ch } = await open();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const got: string[] = [];
    await ch.consume(q, (m) => m && got.push(m.content.toString()), { noAck: true });
    // Many, so that the last ones share a socket read with the get that follows them.
    for (let i = 0; i < 200; i++) ch.sendToQueue(q, Buffer.from('one'));
    expect(await ch.get(q, { noAck: true })).toBe(false);
    await waitUntil(() => got.length === 200, 'the consumer to get them all');
  });

  it('messages published before a basic.cancel go to the consumer being cancelled (ConsumerPriorities)', async () => {
    const { ch } = await open();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const high: string[] = [];
    const low: string[] = [];
    const h = await ch.consume(q, (m) => m && high.push(m.content.toString()), { noAck: true, priority: 1 });
    await ch.consume(q, (m) => m && low.push(m.content.toString()), { noAck: true });
    for (let i = 0; i < 10; i++) ch.sendToQueue(q, Buffer.from('high'));
    await ch.cancel(h.consumerTag);
    for (let i = 0; i < 10; i++) ch.sendToQueue(q, Buffer.from('low'));
    await waitUntil(() => high.length + low.length === 20, 'all 20 delivered');
    expect(high).toEqual(Array(10).fill('high'));
    expect(low).toEqual(Array(10).fill('low'));
  });
});

it('a message that expired behind one still alive is dropped when it reaches the head, not delivered (PerMessageTTL)', async () => {
  const { ch } = await open();
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  ch.sendToQueue(q, Buffer.from('lives'), { expiration: '5000' });
  ch.sendToQueue(q, Buffer.from('dies'), { expiration: '100' });
  await sleep(250);
  const got: string[] = [];
  await ch.consume(q, (m) => m && got.push(m.content.toString()), { noAck: true });
  await sleep(300);
  expect(got).toEqual(['lives']);
});

describe('a channel-wide prefetch (global qos)', () => {
  it('holds back a no-ack consumer of the channel while acked deliveries fill it (QosTests.noAckObeysLimit)', async () => {
    const { ch } = await open();
    await ch.prefetch(1, true);
    const x = uid('fan');
    await ch.assertExchange(x, 'fanout', { autoDelete: true });
    const q1 = (await ch.assertQueue('', { exclusive: true })).queue;
    const q2 = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q1, x, '');
    await ch.bindQueue(q2, x, '');
    const acked: ConsumeMessage[] = [];
    const noAck: string[] = [];
    await ch.consume(q1, (m) => m && acked.push(m));
    ch.publish(x, '', Buffer.from('1'));
    await waitUntil(() => acked.length === 1, 'the acked consumer to fill the prefetch');
    await ch.consume(q2, (m) => m && noAck.push(m.content.toString()), { noAck: true });
    ch.publish(x, '', Buffer.from('2'));
    await sleep(300);
    expect(noAck).toEqual([]);
    ch.ack(acked[0]!);
    await waitUntil(() => acked.length === 2, 'the second to the acked consumer');
    ch.ack(acked[1]!);
    await waitUntil(() => noAck.length === 2, 'both to the no-ack consumer once the channel has room');
  });

  it('shares the freed room among the queues it consumes from (QosTests.fairness)', async () => {
    const { ch } = await open();
    await ch.prefetch(1, true);
    const x = uid('fan');
    await ch.assertExchange(x, 'fanout', { autoDelete: true });
    const queues: string[] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < 3; i++) {
      const q = (await ch.assertQueue('', { exclusive: true })).queue;
      await ch.bindQueue(q, x, '');
      queues.push(q);
      await ch.consume(q, (m) => {
        if (!m) return;
        seen.set(q, (seen.get(q) ?? 0) + 1);
        ch.ack(m);
      });
    }
    for (let i = 0; i < 100; i++) ch.publish(x, '', Buffer.from(String(i)));
    await waitUntil(() => [...seen.values()].reduce((a, b) => a + b, 0) >= 99, '99 deliveries');
    for (const q of queues) expect(seen.get(q) ?? 0).toBeGreaterThan(0);
  });
});

describe('sender-selected distribution (CC and BCC headers)', () => {
  it('routes every key at every exchange on the way: a CC key matches one hop, another the next (CcRoutes.boundExchanges)', async () => {
    const { ch } = await open();
    const direct = uid('direct');
    const topic = uid('topic');
    await ch.assertExchange(direct, 'direct', { autoDelete: true });
    await ch.assertExchange(topic, 'topic', { autoDelete: true });
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindExchange(topic, direct, 'routing_key1');
    await ch.bindQueue(q, topic, 'routing_key2');
    ch.publish(direct, '', Buffer.from('m'), { headers: { CC: ['routing_key1'], BCC: ['routing_key2'] } });
    await waitUntil(async () => (await ch.checkQueue(q)).messageCount === 1, 'the message in the queue');
    const m = await ch.get(q, { noAck: true });
    expect(m && m.properties.headers).toEqual({ CC: ['routing_key1'] });
  });

  it('a CC or BCC header that is not an array makes the message invalid: 406 (CcRoutes.nonArray)', async () => {
    const { conn } = await open();
    const e = await refusal(conn, (ch) => {
      ch.sendToQueue('anything', Buffer.from(''), { headers: { CC: 0 } });
    });
    expect(e.code).toBe(406);
    expect(e.message).toContain('PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,"CC",byte}');
    const e2 = await refusal(conn, (ch) => {
      ch.sendToQueue('anything', Buffer.from(''), { headers: { BCC: 'k' } });
    });
    expect(e2.message).toContain('invalid message: {unacceptable_type_in_header,"BCC",longstr}');
  });

  it('dead-lettering routes with the CC and BCC keys too, unless the queue names a dead-letter routing key, which drops them (DeadLetterExchange.deadLetterNewRK)', async () => {
    const { ch } = await open();
    const dlx = uid('dlx');
    await ch.assertExchange(dlx, 'direct', { autoDelete: true });
    const viaKey = (await ch.assertQueue('', { exclusive: true })).queue;
    const viaCc = (await ch.assertQueue('', { exclusive: true })).queue;
    const viaNew = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(viaKey, dlx, 'k');
    await ch.bindQueue(viaCc, dlx, 'cc');
    await ch.bindQueue(viaNew, dlx, 'new');
    const plain = (await ch.assertQueue('', { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx } })).queue;
    const renamed = (await ch.assertQueue('', { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': 'new' } })).queue;
    const src = uid('src');
    await ch.assertExchange(src, 'direct', { autoDelete: false });
    await ch.bindQueue(plain, src, 'k');
    const viaBcc = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(viaBcc, dlx, 'bcc');
    ch.publish(src, 'k', Buffer.from('a'), { headers: { CC: ['cc'], BCC: ['bcc'] }, expiration: '0' });
    await waitUntil(async () => (await ch.checkQueue(viaBcc)).messageCount === 1, 'dead-lettered to the BCC key');
    expect((await ch.checkQueue(viaCc)).messageCount).toBe(1);
    expect((await ch.checkQueue(viaKey)).messageCount).toBe(1);
    const viaBccMsg = await ch.get(viaBcc, { noAck: true });
    // x-death's routing-keys name the CC keys, not the BCC ones.
    expect(viaBccMsg && (viaBccMsg.properties.headers!['x-death'] as { 'routing-keys': string[] }[])[0]!['routing-keys']).toEqual(['k', 'cc']);
    await ch.purgeQueue(viaKey);
    await ch.purgeQueue(viaCc);
    await ch.unbindQueue(plain, src, 'k');
    await ch.bindQueue(renamed, src, 'k');
    ch.publish(src, 'k', Buffer.from('b'), { headers: { CC: ['cc'], BCC: ['bcc'] }, expiration: '0' });
    await waitUntil(async () => (await ch.checkQueue(viaNew)).messageCount === 1, 'dead-lettered under the new key');
    expect((await ch.checkQueue(viaCc)).messageCount).toBe(0);
    expect((await ch.checkQueue(viaBcc)).messageCount).toBe(0);
    const m = await ch.get(viaNew, { noAck: true });
    const headers = (m && m.properties.headers) || {};
    expect(headers.CC).toBeUndefined();
    expect((headers['x-death'] as { 'routing-keys': string[] }[])[0]!['routing-keys']).toEqual(['k', 'cc']);
    await ch.deleteExchange(src);
  });
});

describe('x-death as RabbitMQ 3.10.8 writes it', () => {
  it('groups entries from before deaths were counted, counts on the same queue and reason, sorts the headers (XDeathHeaderGrowth)', async () => {
    const { ch } = await open();
    const fan = uid('fan');
    await ch.assertExchange(fan, 'fanout', { autoDelete: true });
    const q = (await ch.assertQueue(uid('xd'), { exclusive: true, arguments: { 'x-dead-letter-exchange': fan } })).queue;
    await ch.bindQueue(q, fan, '');
    const legacy = (queue: string, extra: Record<string, unknown> = {}) => ({ queue, reason: 'expired', ...extra });
    ch.sendToQueue(q, Buffer.from('m'), {
      headers: { z: 1, 'x-death': [legacy('old', { random: 'a' }), legacy('old', { random: 'b' }), legacy('old2', { count: 5 }), legacy('old', { random: 'c' })] },
    });
    const seen: Record<string, unknown>[] = [];
    await ch.consume(q, (m) => {
      if (!m) return;
      seen.push(m.properties.headers as Record<string, unknown>);
      if (seen.length < 3) ch.reject(m, false);
      else ch.ack(m);
    });
    await waitUntil(() => seen.length === 3, 'three deliveries');
    const deaths = (h: Record<string, unknown>) => (h['x-death'] as Record<string, unknown>[]).map((d) => [d.queue, d.count, Object.keys(d).join(',')]);
    // A message that already had x-death gets no x-first-death-* headers; the headers come sorted.
    expect(Object.keys(seen[1]!)).toEqual(['x-death', 'z']);
    expect(deaths(seen[1]!)).toEqual([
      [q, 1, 'count,exchange,queue,reason,routing-keys,time'],
      ['old2', 5, 'queue,reason,count'],
      ['old', 3, 'count,queue,reason,random'],
    ]);
    // Grouping again reverses the others, as RabbitMQ's fold leaves them; the time stays the first death's.
    expect(deaths(seen[2]!)).toEqual([
      [q, 2, 'count,exchange,queue,reason,routing-keys,time'],
      ['old', 3, 'count,queue,reason,random'],
      ['old2', 5, 'queue,reason,count'],
    ]);
    const time = (h: Record<string, unknown>) => JSON.stringify((h['x-death'] as Record<string, unknown>[])[0]!.time);
    expect(time(seen[2]!)).toBe(time(seen[1]!));
  });
});

describe('names with carriage returns and line feeds (ExchangeDeclare, QueueLifecycle)', () => {
  it('declares, bindings and deletes drop them; publish, get, consume and purge take names as they are', async () => {
    const { conn, ch } = await open();
    const base = uid('crlf');
    const q = (await ch.assertQueue(`${base}\n-q\r`, { exclusive: true })).queue;
    expect(q).toBe(`${base}-q`);
    await ch.assertExchange(`${base}\r\n-x`, 'fanout', { autoDelete: false });
    await ch.checkExchange(`${base}-x`);
    await ch.bindQueue(`${base}\n-q`, `${base}\n-x`, '');
    ch.publish(`${base}-x`, '', Buffer.from('m'));
    await waitUntil(async () => (await ch.checkQueue(`${base}-q`)).messageCount === 1, 'routed through the stripped binding');
    const e = await refusal(conn, (c) => c.purgeQueue(`${base}\n-q`));
    expect(e.code).toBe(404);
    await ch.deleteExchange(`${base}\n-x`);
    const gone = await refusal(conn, (c) => c.checkExchange(`${base}-x`));
    expect(gone.code).toBe(404);
    expect((await ch.deleteQueue(`${base}\r-q`)).messageCount).toBe(1);
  });
});

describe('argument equivalence on redeclare (PerQueueTTL)', () => {
  it('integers of any width match; a double or a string does not, in RabbitMQ words', async () => {
    const { conn, ch } = await open();
    const q = uid('ttl');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-message-ttl': 10 } });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-message-ttl': { '!': 'long', value: 10 } } });
    const d = await refusal(conn, (c) => c.assertQueue(q, { exclusive: true, arguments: { 'x-message-ttl': { '!': 'double', value: 10 } } }));
    expect(d.code).toBe(406);
    expect(d.message).toContain(`inequivalent arg 'x-message-ttl' for queue '${q}' in vhost '/': received '10.0' but current is '10'`);
    const s = await refusal(conn, (c) => c.assertQueue(q, { exclusive: true, arguments: { 'x-message-ttl': '10' } }));
    expect(s.message).toContain("received '10' but current is '10'");
    const q2 = uid('exp');
    await ch.assertQueue(q2, { exclusive: true, arguments: { 'x-expires': 10000 } });
    const big = await refusal(conn, (c) => c.assertQueue(q2, { exclusive: true, arguments: { 'x-expires': { '!': 'double', value: 10000 } } }));
    expect(big.message).toContain("received '1.0e4' but current is '10000'");
  });
});

describe('frame size before tune (FrameMax.rejectLargeFramesDuringConnectionNegotiation)', () => {
  /** Sends a start-ok whose client properties hold `bytes` bytes; resolves with what the broker sent next. */
  function startOkOf(bytes: number): Promise<'tune' | 'refused'> {
    return new Promise((resolve, reject) => {
      const s = net.connect(broker.port, broker.host);
      let buf = Buffer.alloc(0);
      s.on('connect', () => s.write(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')));
      s.on('error', () => resolve('refused'));
      s.on('close', () => resolve('refused'));
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 7 && buf.length >= buf.readUInt32BE(3) + 8) {
          const f = buf.subarray(0, buf.readUInt32BE(3) + 8);
          buf = buf.subarray(f.length);
          const method = `${f.readUInt16BE(7)}.${f.readUInt16BE(9)}`;
          if (method === '10.10') {
            const value = Buffer.alloc(bytes, 'a');
            const entry = Buffer.concat([Buffer.from([8]), Buffer.from('too_long'), Buffer.from('S'), Buffer.alloc(4), value]);
            entry.writeUInt32BE(bytes, 10);
            const table = Buffer.concat([Buffer.alloc(4), entry]);
            table.writeUInt32BE(entry.length, 0);
            const response = Buffer.from('\0guest\0guest');
            const len = Buffer.alloc(4);
            len.writeUInt32BE(response.length);
            const payload = Buffer.concat([Buffer.from([0, 10, 0, 11]), table, Buffer.from('\x05PLAIN'), len, response, Buffer.from('\x05en_US')]);
            const header = Buffer.from([1, 0, 0, 0, 0, 0, 0]);
            header.writeUInt32BE(payload.length, 3);
            s.write(Buffer.concat([header, payload, Buffer.from([0xce])]));
          } else {
            s.destroy();
            resolve(method === '10.30' ? 'tune' : 'refused');
          }
        }
      });
      setTimeout(() => reject(new Error('no answer')), 5000);
    });
  }

  it('a start-ok frame whose payload passes 4096 bytes is refused; one of exactly 4096 is read', async () => {
    // The payload is the properties' bytes + 50: 4046 gives 4096.
    expect(await startOkOf(4046)).toBe('tune');
    expect(await startOkOf(4047)).toBe('refused');
  });
});

describe('publisher confirms of publishes routed nowhere (php-amqp amqpexchange_publish_confirms.phpt)', () => {
  it('each is acked on its own at once, after its basic.return when mandatory, not folded into one multiple ack', async () => {
    const conn = await amqp.connect(broker.url());
    conn.on('error', () => undefined);
    conns.push(conn);
    const ch = await conn.createConfirmChannel();
    const x = uid('nowhere');
    await ch.assertExchange(x, 'fanout', { autoDelete: true });
    const frames: string[] = [];
    ch.on('ack', (a: { deliveryTag: number; multiple: boolean }) => frames.push(`ack ${a.deliveryTag} ${a.multiple}`));
    ch.on('return', () => frames.push('return'));
    ch.publish(x, 'k', Buffer.from('1'));
    ch.publish(x, 'k', Buffer.from('2'), { mandatory: true });
    ch.publish(x, 'k', Buffer.from('3'));
    await ch.waitForConfirms();
    await waitUntil(() => frames.length === 4, 'three acks and a return');
    expect(frames).toEqual(['ack 1 false', 'return', 'ack 2 false', 'ack 3 false']);
  });
});

it("a direct reply-to name has RabbitMQ's shape, amq.rabbitmq.reply-to.<where>.<base64 key>== (php-amqp bug_gh155_direct_reply_to.phpt)", async () => {
  const { ch } = await open();
  await ch.consume('amq.rabbitmq.reply-to', () => undefined, { noAck: true });
  const q = (await ch.assertQueue('', { exclusive: true })).queue;
  ch.sendToQueue(q, Buffer.from('request'), { replyTo: 'amq.rabbitmq.reply-to' });
  await waitUntil(async () => (await ch.checkQueue(q)).messageCount === 1, 'the request');
  const m = await ch.get(q, { noAck: true });
  expect(m && m.properties.replyTo).toMatch(/^amq\.rabbitmq\.reply-to\.[^.]+\.[A-Za-z0-9+/]{22}==$/);
});
