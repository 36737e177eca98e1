// The load the RabbitMQ fixtures of test/fixtures/rabbitmq-prometheus were scraped under (see its
// README), with amqplib: a classic queue with a dead-letter exchange and a manual-ack consumer (one
// nack with requeue, one without, five acks, then deliveries left unacked), a quorum queue read by
// basic.get (with and without ack, one nack), an empty basic.get, an auto-ack consumer on the
// dead-letter queue, an unroutable publish returned and one dropped, an exclusive queue declared
// and deleted. It leaves its connection open for the scrape.
import amqp from 'amqplib';

export interface FixtureLoad {
  /** Publishes one more message to the dead-letter queue (consumed without ack). */
  tick(): void;
  close(): Promise<void>;
}

export async function fixtureLoad(url: string): Promise<FixtureLoad> {
  const conn = await amqp.connect(url);
  const ch = await conn.createConfirmChannel();
  ch.on('return', () => undefined);
  await ch.assertExchange('dlx', 'fanout');
  await ch.assertQueue('dead', { durable: true });
  await ch.bindQueue('dead', 'dlx', '');
  await ch.assertQueue('work', { durable: true, arguments: { 'x-dead-letter-exchange': 'dlx' } });
  await ch.assertQueue('qq', { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': 'dlx' } });
  await ch.assertQueue('idle', { durable: false });
  for (let i = 0; i < 20; i++) ch.publish('', 'work', Buffer.alloc(i * 100, 'x'));
  for (let i = 0; i < 5; i++) ch.publish('', 'qq', Buffer.from(`q${i}`));
  ch.publish('', 'nowhere', Buffer.from('dropped'));
  ch.publish('', 'nowhere', Buffer.from('returned'), { mandatory: true });
  await ch.waitForConfirms();
  const t = await conn.createChannel();
  await t.assertQueue('tmp', { exclusive: true });
  await t.deleteQueue('tmp');
  await t.close();
  const c2 = await conn.createChannel();
  await c2.prefetch(5);
  let n = 0;
  await c2.consume('work', (m) => {
    if (!m) return;
    n++;
    if (n === 1) c2.nack(m, false, true);
    else if (n === 2) c2.nack(m, false, false);
    else if (n < 8) c2.ack(m);
  });
  const c3 = await conn.createChannel();
  await c3.consume('dead', () => undefined, { noAck: true });
  const g = await conn.createChannel();
  await g.get('qq', { noAck: true });
  const m = await g.get('qq', { noAck: false });
  if (m) g.nack(m, false, false);
  await g.get('idle');
  return {
    tick: () => ch.publish('', 'dead', Buffer.from('tick')),
    close: () => conn.close(),
  };
}
