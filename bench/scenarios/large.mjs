// 8. 1 MiB bodies through one non-durable queue, 1 publisher → 1 consumer (prefetch 20, ack
// every 5). The publisher is held to at most 64 messages (64 MiB) ahead of the consumer, so a
// fast publisher cannot pile gigabytes into the broker.
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate } from './common.mjs';

const MiB = 1024 * 1024;
export default {
  name: 'large',
  title: '1 MiB bodies, 1 pub → 1 con',
  metrics: [
    { key: 'consumedMB', label: 'consumed MiB/s', better: 'higher' },
    { key: 'publishedMB', label: 'published MiB/s', better: 'higher' },
  ],
  async run({ broker, seconds, warmup, id }) {
    const queue = `bench.large.${id}`;
    await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: false }));
    const [con, pub] = await Promise.all([
      spawnWorker('consumer', { url: broker.url, queue, prefetch: 20, ackEvery: 5, progress: true }, 'con'),
      spawnWorker('publisher', { url: broker.url, queue, bodySize: MiB, maxBacklog: 64 }, 'pub'),
    ]);
    con.relayProgressTo(pub);
    const m = await measure({ broker, consumers: [con], producers: [pub], seconds, warmup });
    await cleanup(broker.url, { queues: [queue] });
    return {
      values: { consumedMB: rate(m.reports.con, 'bytes') / MiB, publishedMB: rate(m.reports.pub, 'bytes') / MiB },
      clientCpu: cpuSummary(m.reports),
      broker: m.broker,
    };
  },
};
