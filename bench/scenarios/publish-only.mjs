// 3. Persistent publish-only: durable queue, delivery_mode 2, confirms (window 1000), no consumer.
import { measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, spawnPublishers, sumRate } from './common.mjs';

export default {
  name: 'publish-only',
  title: 'persistent publish-only (queue grows)',
  metrics: [{ key: 'confirmed', label: 'confirmed msgs/s', better: 'higher', nullBroker: true }],
  async run({ broker, seconds, warmup, id, args }) {
    const queue = `bench.publish-only.${id}`;
    await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: true }));
    const pubs = await spawnPublishers(args.pubs, { url: broker.url, queue, bodySize: 16, persistent: true, confirmWindow: 1000 });
    const m = await measure({ broker, producers: pubs, seconds, warmup });
    await cleanup(broker.url, { queues: [queue] });
    return { values: { confirmed: sumRate(m, pubs, 'confirmed') }, clientCpu: cpuSummary(m.reports), broker: m.broker };
  },
};
