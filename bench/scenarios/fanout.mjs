// 5. Fan-out: 1 publisher to a fanout exchange bound to 4 queues, one consumer each (the four
// consumers are spread over 2 client processes, one connection per consumer).
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate, spawnPublishers, sumRate } from './common.mjs';

export default {
  name: 'fanout',
  title: 'fan-out to 4 queues',
  metrics: [
    { key: 'deliveries', label: 'deliveries/s (total)', better: 'higher' },
    { key: 'published', label: 'published msgs/s', better: 'higher', nullBroker: true },
  ],
  async run({ broker, seconds, warmup, id, args }) {
    const exchange = `bench.fanout.${id}`;
    const queues = [0, 1, 2, 3].map((i) => `bench.fanout.${id}.${i}`);
    await admin(broker.url, async (ch) => {
      await ch.assertExchange(exchange, 'fanout', { durable: false });
      for (const q of queues) {
        await ch.assertQueue(q, { durable: false });
        await ch.bindQueue(q, exchange, '');
      }
    });
    const [c1, c2, pubs] = await Promise.all([
      spawnWorker('consumer', { url: broker.url, queues: queues.slice(0, 2), prefetch: 1000, ackEvery: 100 }, 'con1'),
      spawnWorker('consumer', { url: broker.url, queues: queues.slice(2), prefetch: 1000, ackEvery: 100 }, 'con2'),
      spawnPublishers(args.pubs, { url: broker.url, exchange, routingKey: '', bodySize: 16 }),
    ]);
    const m = await measure({ broker, consumers: [c1, c2], producers: pubs, seconds, warmup });
    await cleanup(broker.url, { queues, exchanges: [exchange] });
    return {
      values: { deliveries: rate(m.reports.con1, 'consumed') + rate(m.reports.con2, 'consumed'), published: sumRate(m, pubs, 'published') },
      clientCpu: cpuSummary(m.reports),
      broker: m.broker,
    };
  },
};
