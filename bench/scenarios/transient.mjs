// 1. Transient: 1 publisher (--pubs N for more processes), 1 consumer (prefetch 1000, ack every 100
// with multiple), non-durable queue, 16-byte bodies. Publishers are not throttled: they may outrun
// the consumer, so published is reported too.
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate, spawnPublishers, sumRate } from './common.mjs';

export default {
  name: 'transient',
  title: 'transient, 1 pub → 1 con',
  metrics: [
    { key: 'consumed', label: 'consumed msgs/s', better: 'higher' },
    { key: 'published', label: 'published msgs/s', better: 'higher', nullBroker: true },
  ],
  async run({ broker, seconds, warmup, id, args }) {
    const queue = `bench.transient.${id}`;
    await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: false }));
    const [con, pubs] = await Promise.all([
      spawnWorker('consumer', { url: broker.url, queue, prefetch: 1000, ackEvery: 100 }, 'con'),
      spawnPublishers(args.pubs, { url: broker.url, queue, bodySize: 16 }),
    ]);
    const m = await measure({ broker, consumers: [con], producers: pubs, seconds, warmup });
    await cleanup(broker.url, { queues: [queue] });
    return {
      values: { consumed: rate(m.reports.con, 'consumed'), published: sumRate(m, pubs, 'published') },
      clientCpu: cpuSummary(m.reports),
      broker: m.broker,
    };
  },
};
