// Quorum queue: a durable `x-queue-type: quorum` queue, delivery_mode 2, confirm window 1000,
// 1 publisher → 1 consumer (per-consumer prefetch 1000: quorum queues refuse a global one). As
// `persistent`, but against RabbitMQ's own quorum queues (Raft log under the node's mnesia dir).
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate, spawnPublishers, sumRate } from './common.mjs';

export default {
  name: 'quorum',
  title: 'quorum queue + confirms, 1 pub → 1 con',
  metrics: [
    { key: 'confirmed', label: 'confirmed msgs/s', better: 'higher' },
    { key: 'consumed', label: 'consumed msgs/s', better: 'higher' },
  ],
  async run({ broker, seconds, warmup, id, args }) {
    const queue = `bench.quorum.${id}`;
    await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } }));
    const [con, pubs] = await Promise.all([
      spawnWorker('consumer', { url: broker.url, queue, prefetch: 1000, ackEvery: 100 }, 'con'),
      spawnPublishers(args.pubs, { url: broker.url, queue, bodySize: 16, persistent: true, confirmWindow: 1000 }),
    ]);
    const m = await measure({ broker, consumers: [con], producers: pubs, seconds, warmup });
    await cleanup(broker.url, { queues: [queue] });
    return {
      values: { confirmed: sumRate(m, pubs, 'confirmed'), consumed: rate(m.reports.con, 'consumed') },
      clientCpu: cpuSummary(m.reports),
      broker: m.broker,
    };
  },
};
