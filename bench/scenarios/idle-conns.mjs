// 7. Idle connections: open N (default 1,000) AMQP connections from one client process, 20 at a
// time; time to open them all, and the broker's RSS before and after (settled) → bytes each.
import { procMem, sleep } from '../stats.mjs';
import { BrokerMonitor, spawnWorker } from '../workers.mjs';

const MB = 1024 * 1024;
export default {
  name: 'idle-conns',
  title: 'idle connections',
  freshBroker: true, // RSS before/after needs a broker without earlier scenarios' allocations
  metrics: [
    { key: 'openS', label: 'time to open all, s', better: 'lower' },
    { key: 'perConn', label: 'RSS per connection, KiB', better: 'lower' },
    { key: 'rssBefore', label: 'broker RSS before, MiB', better: 'lower' },
    { key: 'rssAfter', label: 'broker RSS after, MiB', better: 'lower' },
  ],
  async run({ broker, args }) {
    const count = args.conns;
    const w = await spawnWorker('idle-conns', { url: broker.url, count, concurrency: 20 }, 'client');
    try {
      await sleep(1000);
      const before = procMem(broker.pid).rss;
      const mon = new BrokerMonitor(broker.pid);
      const r = await w.call('start', {}, 300_000);
      const { cpu } = mon.end(); // broker CPU while the connections were being opened
      await sleep(2000);
      const after = procMem(broker.pid).rss;
      return {
        values: { openS: r.openMs / 1000, perConn: (after - before) / count / 1024, rssBefore: before / MB, rssAfter: after / MB },
        clientCpu: { client: r.cpu },
        broker: { cpu, maxRss: after },
      };
    } finally {
      await w.stop();
    }
  },
};
