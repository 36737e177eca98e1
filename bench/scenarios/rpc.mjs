// 4. RPC: a server consumes a request queue and replies to reply_to with the correlation_id; the
// client has an exclusive reply queue and one call outstanding at a time.
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate } from './common.mjs';

export default {
  name: 'rpc',
  title: 'RPC, 1 outstanding call',
  metrics: [
    { key: 'calls', label: 'round trips/s', better: 'higher' },
    { key: 'p50', label: 'p50 µs', better: 'lower' },
    { key: 'p99', label: 'p99 µs', better: 'lower' },
  ],
  async run({ broker, seconds, warmup, id }) {
    const queue = `bench.rpc.${id}`;
    await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: false }));
    const [server, client] = await Promise.all([
      spawnWorker('rpc-server', { url: broker.url, queue }, 'server'),
      spawnWorker('rpc-client', { url: broker.url, queue }, 'client'),
    ]);
    const m = await measure({ broker, consumers: [server], producers: [client], seconds, warmup });
    await cleanup(broker.url, { queues: [queue] });
    const l = m.reports.client.latency ?? {};
    return { values: { calls: rate(m.reports.client, 'calls'), p50: l.p50, p99: l.p99 }, clientCpu: cpuSummary(m.reports), broker: m.broker };
  },
};
