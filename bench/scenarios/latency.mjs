// 6. Steady-rate latency: publish at a fixed rate (default 5,000 msgs/s) with a monotonic
// timestamp in the body; the consumer (another process, same clock) records end-to-end latency.
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate } from './common.mjs';

export default {
  name: 'latency',
  title: 'steady-rate latency',
  metrics: [
    { key: 'p50', label: 'p50 µs', better: 'lower' },
    { key: 'p99', label: 'p99 µs', better: 'lower' },
    { key: 'p999', label: 'p99.9 µs', better: 'lower' },
    { key: 'consumed', label: 'consumed msgs/s', better: 'higher' },
  ],
  async run({ broker, seconds, warmup, id, args }) {
    const queue = `bench.latency.${id}`;
    await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: false }));
    const [con, pub] = await Promise.all([
      spawnWorker('consumer', { url: broker.url, queue, prefetch: 1000, ackEvery: 100, latency: true }, 'con'),
      spawnWorker('publisher', { url: broker.url, queue, bodySize: 16, rate: args.rate, stamp: true }, 'pub'),
    ]);
    const m = await measure({ broker, consumers: [con], producers: [pub], seconds, warmup });
    await cleanup(broker.url, { queues: [queue] });
    const l = m.reports.con.latency ?? {};
    return { values: { p50: l.p50, p99: l.p99, p999: l.p999, consumed: rate(m.reports.con, 'consumed') }, clientCpu: cpuSummary(m.reports), broker: m.broker };
  },
};
