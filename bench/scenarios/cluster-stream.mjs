// Cluster stream: a durable `x-queue-type: stream` queue on a three-node cluster (Warren: 3
// nats-server + 3 Warren, the stream one JetStream stream of 3 replicas that every node appends
// to and reads from; RabbitMQ: 3 nodes, the stream's osiris replicas), started fresh for every
// run. Declared through node 1; 1 publisher with confirms (window 1000, persistent 16-byte
// bodies) connected to node 2 → 1 consumer from `x-stream-offset: next` (prefetch 1000, manual
// acks every 100 with multiple, as streams require) connected to node 3, measured as the other
// scenarios are.
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate } from './common.mjs';

export default {
  name: 'cluster-stream',
  title: 'cluster: stream on 3 nodes, pub on node 2 → con on node 3',
  cluster: true, // run.mjs starts a three-node cluster of each broker, fresh per run
  skipBrokers: ['lavinmq'], // LavinMQ 1.0.1 has no clustering nor streams
  metrics: [
    { key: 'confirmed', label: 'confirmed msgs/s', better: 'higher' },
    { key: 'consumed', label: 'consumed msgs/s', better: 'higher' },
  ],
  async run({ broker, seconds, warmup, id }) {
    const [n1, n2, n3] = broker.nodes;
    const queue = `bench.cluster-stream.${id}`;
    await admin(n1.url, (ch) => ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'stream' } }));
    try {
      const [con, pub] = await Promise.all([
        spawnWorker('consumer', { url: n3.url, queue, prefetch: 1000, ackEvery: 100, consumeArgs: { 'x-stream-offset': 'next' } }, 'con'),
        spawnWorker('publisher', { url: n2.url, queue, bodySize: 16, persistent: true, confirmWindow: 1000 }, 'pub'),
      ]);
      const m = await measure({ broker, consumers: [con], producers: [pub], seconds, warmup });
      return {
        values: { confirmed: rate(m.reports.pub, 'confirmed'), consumed: rate(m.reports.con, 'consumed') },
        clientCpu: cpuSummary(m.reports),
        broker: m.broker,
      };
    } finally {
      await cleanup(n1.url, { queues: [queue] });
    }
  },
};
