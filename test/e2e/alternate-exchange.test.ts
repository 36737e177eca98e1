// The alternate-exchange argument: what an exchange cannot route goes to its alternate.
import amqp from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(() => broker.close());

it('routes unroutable messages to the alternate exchange, following its own alternate, without returning them', async () => {
  const conn = await amqp.connect(`amqp://127.0.0.1:${broker.port}`);
  const ch = await conn.createConfirmChannel();
  await ch.assertExchange('ae-last', 'fanout', { durable: false });
  await ch.assertExchange('ae-middle', 'direct', { durable: false, arguments: { 'alternate-exchange': 'ae-last' } });
  await ch.assertExchange('ae-main', 'direct', { durable: false, arguments: { 'alternate-exchange': 'ae-middle' } });
  const routed = (await ch.assertQueue('', { exclusive: true })).queue;
  const unrouted = (await ch.assertQueue('', { exclusive: true })).queue;
  await ch.bindQueue(routed, 'ae-main', 'known');
  await ch.bindQueue(unrouted, 'ae-last', '');
  const returns: string[] = [];
  ch.on('return', (m: amqp.Message) => returns.push(m.content.toString()));
  ch.publish('ae-main', 'known', Buffer.from('a'), { mandatory: true });
  ch.publish('ae-main', 'unknown', Buffer.from('b'), { mandatory: true });
  await ch.waitForConfirms();
  const a = await ch.get(routed, { noAck: true });
  const b = await ch.get(unrouted, { noAck: true });
  expect(a && a.content.toString()).toBe('a');
  expect(b && b.content.toString()).toBe('b');
  expect(b && b.fields.exchange).toBe('ae-main');
  expect(await ch.get(routed, { noAck: true })).toBe(false);
  expect(returns).toEqual([]);
  await conn.close();
});
