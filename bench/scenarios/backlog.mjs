// 9. Backlog recovery: publish N (default 1,000,000) persistent messages with confirms (2
// publisher processes, window 1000 each) to a durable queue; stop the broker (Warren: SIGTERM;
// RabbitMQ: `rabbitmqctl stop`, the whole node), start it again on the same data, time until it
// accepts a connection and a passive declare reports all N messages; then time draining them
// (prefetch 1000, ack every 100 with multiple). Broker CPU/RSS columns: during the drain.
import amqp from 'amqplib';
import { procMem, sleep } from '../stats.mjs';
import { BrokerMonitor, spawnWorker } from '../workers.mjs';
import { admin, cleanup } from './common.mjs';

const MB = 1024 * 1024;

async function untilReady(broker, queue, n, t0, timeoutMs = 600_000) {
  let connectedAt;
  for (;;) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`backlog not recovered after ${timeoutMs} ms`);
    try {
      const conn = await amqp.connect(broker.url);
      conn.on('error', () => {});
      connectedAt ??= performance.now();
      try {
        const ch = await conn.createChannel();
        ch.on('error', () => {});
        const ok = await ch.checkQueue(queue);
        if (ok.messageCount === n) return { connectedAt, readyAt: performance.now() };
      } finally {
        await conn.close().catch(() => {});
      }
    } catch {}
    await sleep(20);
  }
}

export default {
  name: 'backlog',
  title: 'backlog recovery',
  defaultRuns: 1,
  metrics: [
    { key: 'pubRate', label: 'fill: confirmed msgs/s', better: 'higher' },
    { key: 'stopS', label: 'shutdown, s', better: 'lower' },
    { key: 'connectS', label: 'restart → accepts connections, s', better: 'lower' },
    { key: 'readyS', label: 'restart → declare shows all, s', better: 'lower' },
    { key: 'rssMB', label: 'RSS after restart, MiB', better: 'lower' },
    { key: 'drainS', label: 'drain all, s', better: 'lower' },
    { key: 'drainRate', label: 'drain msgs/s', better: 'higher' },
  ],
  async run({ broker, id, args }) {
    const n = args.backlog;
    const queue = `bench.backlog.${id}`;
    await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: true }));
    // fill, from P publisher processes (an equal share each)
    const P = 2;
    const pubs = await Promise.all(
      Array.from({ length: P }, (_, i) => {
        const limit = Math.floor(n / P) + (i < n % P ? 1 : 0);
        return spawnWorker('publisher', { url: broker.url, queue, bodySize: 16, persistent: true, confirmWindow: 1000, limit }, `pub${i + 1}`);
      }),
    );
    const filled = Promise.all(pubs.map((p) => p.done()));
    const tFill = performance.now();
    await Promise.all(pubs.map((p) => p.call('start')));
    const counters = await filled;
    const fillMs = performance.now() - tFill;
    const pubReports = await Promise.all(pubs.map((p) => p.call('report')));
    await Promise.all(pubs.map((p) => p.stop()));
    const nacked = counters.reduce((a, c) => a + c.nacked, 0);
    if (nacked) throw new Error(`${nacked} publishes nacked`);
    await untilReady(broker, queue, n, performance.now(), 60_000); // the count is settled
    // restart
    const stopMs = await broker.shutdown();
    const t0 = performance.now();
    await broker.boot();
    const { connectedAt, readyAt } = await untilReady(broker, queue, n, t0);
    const rss = procMem(broker.pid).rss;
    // drain
    const con = await spawnWorker('consumer', { url: broker.url, queue, prefetch: 1000, ackEvery: 100, expect: n }, 'con');
    const drained = con.done();
    const mon = new BrokerMonitor(broker.pid);
    const tDrain = performance.now();
    await con.call('start');
    await drained;
    const drainMs = performance.now() - tDrain;
    const drainBroker = mon.end();
    const conReport = await con.call('report');
    await con.stop();
    await cleanup(broker.url, { queues: [queue] });
    return {
      values: {
        pubRate: (n * 1000) / fillMs,
        stopS: stopMs / 1000,
        connectS: (connectedAt - t0) / 1000,
        readyS: (readyAt - t0) / 1000,
        rssMB: rss / MB,
        drainS: drainMs / 1000,
        drainRate: (n * 1000) / drainMs,
      },
      clientCpu: { ...Object.fromEntries(pubReports.map((r, i) => [`pub${i + 1}`, r.cpu])), con: conReport.cpu },
      broker: { cpu: drainBroker.cpu, maxRss: Math.max(rss, drainBroker.maxRss ?? 0) },
    };
  },
};
