// Direct reply-to (amq.rabbitmq.reply-to) with real amqplib: RPC without declaring a reply queue.
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';

let broker: RunningBroker;
let conn: ChannelModel;
beforeAll(async () => {
  broker = await startBroker();
  conn = await amqp.connect(`amqp://127.0.0.1:${broker.port}`);
});
afterAll(async () => {
  await conn.close().catch(() => {});
  await broker.close();
});

const closedWith = (ch: Channel): Promise<number> => new Promise((r) => ch.once('error', (e: { code: number }) => r(e.code)));

describe('direct reply-to', () => {
  it('routes replies straight to the requesting channel, each client its own', async () => {
    const server = await conn.createChannel();
    await server.assertQueue('drt-rpc', { exclusive: true });
    await server.consume('drt-rpc', (m) => {
      if (!m) return;
      server.sendToQueue(m.properties.replyTo as string, Buffer.from(`re:${m.content.toString()}`), {
        correlationId: m.properties.correlationId as string,
      });
      server.ack(m);
    });
    const clients = await Promise.all([1, 2, 3].map(() => conn.createChannel()));
    const answers = await Promise.all(
      clients.map(async (ch, i) => {
        const replies: string[] = [];
        const done = new Promise<void>((resolve) => {
          void ch.consume(
            'amq.rabbitmq.reply-to',
            (m) => {
              if (!m) return;
              expect(m.fields.routingKey.startsWith('amq.rabbitmq.reply-to.')).toBe(true);
              replies.push(`${m.properties.correlationId}=${m.content.toString()}`);
              if (replies.length === 2) resolve();
            },
            { noAck: true },
          );
        });
        await new Promise((r) => setTimeout(r, 20));
        for (const n of [1, 2]) ch.sendToQueue('drt-rpc', Buffer.from(`c${i}-${n}`), { replyTo: 'amq.rabbitmq.reply-to', correlationId: `${i}.${n}` });
        await done;
        return replies.sort();
      }),
    );
    expect(answers).toEqual([0, 1, 2].map((i) => [`${i}.1=re:c${i}-1`, `${i}.2=re:c${i}-2`]));
    // The pseudo-queue answers a passive declare, as in RabbitMQ.
    expect((await clients[0]!.checkQueue('amq.rabbitmq.reply-to')).messageCount).toBe(0);
  });

  it('finds the pseudo-queue in reply_to behind other properties, and only the exact name', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('drt-props', { exclusive: true });
    const got: { replyTo: unknown; headers: unknown }[] = [];
    await ch.consume('drt-props', (m) => m && got.push({ replyTo: m.properties.replyTo, headers: m.properties.headers }), { noAck: true });
    const reply = await ch.consume('amq.rabbitmq.reply-to', () => {}, { noAck: true });
    const props = { contentType: 'text/plain', contentEncoding: 'utf-8', headers: { a: 1 }, deliveryMode: 2, priority: 3, correlationId: 'c' };
    ch.sendToQueue('drt-props', Buffer.from('1'), { ...props, replyTo: 'amq.rabbitmq.reply-to' });
    // Same length, one letter off: an ordinary name, passed through as it is.
    ch.sendToQueue('drt-props', Buffer.from('2'), { ...props, replyTo: 'amq.rabbitmq.reply-tO' });
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual([
      { replyTo: expect.stringMatching(/^amq\.rabbitmq\.reply-to\.[^.]+\.[A-Za-z0-9+/]{22}==$/), headers: { a: 1 } },
      { replyTo: 'amq.rabbitmq.reply-tO', headers: { a: 1 } },
    ]);
    await ch.cancel(reply.consumerTag);
    await ch.close();
  });

  it('refuses a reply_to of the pseudo-queue without a reply consumer (406)', async () => {
    const ch = await conn.createChannel();
    const closed = closedWith(ch);
    ch.sendToQueue('nowhere', Buffer.from('x'), { replyTo: 'amq.rabbitmq.reply-to' });
    expect(await closed).toBe(406);
  });

  it('refuses a reply consumer with acks (406)', async () => {
    const ch = await conn.createChannel();
    const closed = closedWith(ch);
    await ch.consume('amq.rabbitmq.reply-to', () => {}, { noAck: false }).catch(() => {});
    expect(await closed).toBe(406);
  });

  it('drops a reply to a channel that has gone, or returns it when mandatory', async () => {
    const gone = await conn.createChannel();
    let name = '';
    const server = await conn.createChannel();
    await server.assertQueue('drt-capture', { exclusive: true });
    await gone.consume('amq.rabbitmq.reply-to', () => {}, { noAck: true });
    gone.sendToQueue('drt-capture', Buffer.from('req'), { replyTo: 'amq.rabbitmq.reply-to' });
    await new Promise((r) => setTimeout(r, 50));
    const req = await server.get('drt-capture', { noAck: true });
    name = req ? (req.properties.replyTo as string) : '';
    expect(name.startsWith('amq.rabbitmq.reply-to.')).toBe(true);
    await gone.close();
    const returned = new Promise<number>((r) => server.once('return', (m: { fields: { replyCode: number } }) => r(m.fields.replyCode)));
    server.publish('', name, Buffer.from('late'), { mandatory: true });
    expect(await returned).toBe(312);
  });
});
