// 2. Persistent + confirms: durable queue, delivery_mode 2, confirm window 1000, 1 consumer.
// The same scenario runs on other durable queue types (quorum.mjs) through confirmedScenario.
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate, spawnPublishers, sumRate } from './common.mjs';

/** 1 publisher with confirms → 1 consumer (per-consumer prefetch 1000) on a durable queue declared with queueArgs. */
export function confirmedScenario({ name, title, queueArgs = {}, nullBroker = false, skipBrokers }) {
  return {
    name,
    title,
    ...(skipBrokers ? { skipBrokers } : {}),
    metrics: [
      { key: 'confirmed', label: 'confirmed msgs/s', better: 'higher', ...(nullBroker ? { nullBroker: true } : {}) },
      { key: 'consumed', label: 'consumed msgs/s', better: 'higher' },
    ],
    async run({ broker, seconds, warmup, id, args }) {
      const queue = `bench.${name}.${id}`;
      await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: true, arguments: queueArgs }));
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
}

export default confirmedScenario({ name: 'persistent', title: 'persistent + confirms, 1 pub → 1 con', nullBroker: true });
