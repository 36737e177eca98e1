// Cluster: a quorum queue on a three-node cluster (Warren: 3 nats-server + 3 Warren; RabbitMQ:
// 3 nodes), started fresh for every run (brokers.mjs startWarrenCluster / startRabbitCluster).
// 1. Throughput: a durable `x-queue-type: quorum` queue declared through node 1; 1 publisher with
//    confirms (window 1000, persistent 16-byte bodies) connected to node 2 → 1 consumer (prefetch
//    1000, manual acks) connected to node 3, measured as the other scenarios are.
// 2. Failover: a second quorum queue; a publisher with confirms at a steady rate (--failover-rate,
//    default 1000 msgs/s, window 1000) connected to a node that survives; after 3 s, kill -9 of the
//    node that owns the queue (Warren: the management API's `node`, killed with its nats-server;
//    RabbitMQ: the quorum queue's leader from `rabbitmqctl list_queues name leader`). The stall is
//    the longest gap between consecutive confirms from 1 s before the kill until confirms have
//    flowed again for 3 s.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../stats.mjs';
import { spawnWorker, measure, cpuSummary } from '../workers.mjs';
import { admin, cleanup, rate } from './common.mjs';

const QUORUM = { 'x-queue-type': 'quorum' };
const nowMs = () => Number(process.hrtime.bigint() / 1000n) / 1000; // the workers' clock

/** Keeps the cluster's logs next to an error (the run's nodes are gone once it fails). */
function withLogs(broker, id, e) {
  const file = join(tmpdir(), `cbench-${id}.log`);
  try {
    writeFileSync(file, broker.log());
  } catch {}
  return new Error(`${e.message} (cluster logs: ${file})`);
}

async function failover({ broker, id, args, log }) {
  const queue = `bench.cluster-failover.${id}`;
  const ratePerS = args.failoverRate ?? 1000;
  await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: true, arguments: QUORUM }));
  const owner = await broker.owner(queue);
  const pubIdx = (owner + 1) % broker.nodes.length; // a node that survives
  const pub = await spawnWorker('publisher', { url: broker.nodes[pubIdx].url, queue, bodySize: 16, persistent: true, confirmWindow: 1000, rate: ratePerS, trackGaps: true }, 'fo-pub');
  let error = null;
  pub.listeners.error.push((e) => (error ??= e));
  try {
    await pub.call('start');
    await sleep(2000);
    await pub.call('mark');
    await sleep(1000);
    const before = (await pub.call('report')).total;
    if (error) throw new Error(`publisher error before the kill: ${error}`);
    if (before.confirmed < ratePerS) throw new Error(`only ${before.confirmed} confirmed before the kill`);
    const killAt = nowMs();
    await broker.kill9(owner);
    const killedMs = nowMs() - killAt;
    // until confirms have flowed again for 3 s (at least 2 s worth of them), at most 120 s
    let r;
    for (;;) {
      await sleep(100);
      r = await pub.call('report');
      if (error) throw new Error(`publisher error after the kill: ${error}`);
      const since = r.total.confirmed - before.confirmed;
      const now = nowMs();
      const resumed = Math.max(killAt, r.gap.endMs ?? 0); // the longest gap so far ended then
      if (now - resumed > 3000 && now - r.lastConfirmMs < 500 && since >= 2 * ratePerS) break;
      if (now - killAt > 120_000)
        throw new Error(`confirms did not resume within 120 s of the kill (${since} confirmed since, ${r.total.published - r.total.confirmed - r.total.nacked} unconfirmed)`);
    }
    const g = r.gap;
    log(
      `[cluster] ${broker.label}: killed ${broker.nodes[owner].name} (owner; kill took ${killedMs.toFixed(0)} ms), publisher on ${broker.nodes[pubIdx].name}: ` +
        `longest confirm gap ${g.ms.toFixed(0)} ms, from ${(g.startMs - killAt).toFixed(0)} to ${(g.endMs - killAt).toFixed(0)} ms after the kill; ` +
        `${r.total.confirmed} confirmed, ${r.total.nacked} nacked, ${r.total.published - r.total.confirmed - r.total.nacked} unconfirmed`,
    );
    return { stallMs: g.ms, nacked: r.total.nacked };
  } finally {
    await pub.stop();
  }
}

export default {
  name: 'cluster',
  title: 'cluster: quorum queue on 3 nodes, pub on node 2 → con on node 3; owner kill -9',
  cluster: true, // run.mjs starts a three-node cluster of each broker, fresh per run
  skipBrokers: ['lavinmq'], // LavinMQ 1.0.1 has no clustering
  metrics: [
    { key: 'confirmed', label: 'confirmed msgs/s', better: 'higher' },
    { key: 'consumed', label: 'consumed msgs/s', better: 'higher' },
    { key: 'stallMs', label: 'failover: longest confirm gap, ms', better: 'lower' },
  ],
  async run({ broker, seconds, warmup, id, args, log = console.error }) {
    const [n1, n2, n3] = broker.nodes;
    const queue = `bench.cluster.${id}`;
    try {
      await admin(n1.url, (ch) => ch.assertQueue(queue, { durable: true, arguments: QUORUM }));
      await broker.owner(queue); // placed on all three nodes before it is measured
      const [con, pub] = await Promise.all([
        spawnWorker('consumer', { url: n3.url, queue, prefetch: 1000, ackEvery: 100 }, 'con'),
        spawnWorker('publisher', { url: n2.url, queue, bodySize: 16, persistent: true, confirmWindow: 1000 }, 'pub'),
      ]);
      const m = await measure({ broker, consumers: [con], producers: [pub], seconds, warmup });
      await cleanup(n1.url, { queues: [queue] });
      const fo = await failover({ broker, id, args, log });
      return {
        values: { confirmed: rate(m.reports.pub, 'confirmed'), consumed: rate(m.reports.con, 'consumed'), stallMs: fo.stallMs },
        clientCpu: cpuSummary(m.reports),
        broker: m.broker,
      };
    } catch (e) {
      throw withLogs(broker, id, e);
    }
  },
};
