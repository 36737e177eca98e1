// Stream: a durable `x-queue-type: stream` queue, in two phases.
// 1. Publishers with confirms (window 1000, 16-byte persistent bodies; --pubs N) append for the
//    usual warm-up + measured seconds, no consumer: "confirmed msgs/s" over the measured window.
// 2. Once they have stopped, one consumer (prefetch 1000, manual acks every 100 with multiple —
//    streams require both) replays the whole stream from `x-stream-offset: first`, until it has
//    read every confirmed message: "replayed msgs/s" = confirmed messages ÷ time from sending
//    basic.consume to receiving the last of them. The whole log is read, not a fixed window, so a
//    faster publisher makes a longer stream to replay (each broker replays what it took); the
//    broker CPU shown is the replay's.
import { BrokerMonitor, measure, spawnWorker } from '../workers.mjs';
import { admin, cleanup, spawnPublishers, sumRate } from './common.mjs';

const REPLAY_TIMEOUT_MS = 300_000;

export default {
  name: 'stream',
  title: 'stream: publish, then replay from first',
  skipBrokers: ['lavinmq'], // LavinMQ 1.0.1 has no streams
  metrics: [
    { key: 'confirmed', label: 'confirmed msgs/s', better: 'higher' },
    { key: 'replayed', label: 'replayed msgs/s', better: 'higher' },
  ],
  async run({ broker, seconds, warmup, id, args }) {
    const queue = `bench.stream.${id}`;
    await admin(broker.url, (ch) => ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'stream' } }));
    try {
      // phase 1: append
      const pubs = await spawnPublishers(args.pubs, { url: broker.url, queue, bodySize: 16, persistent: true, confirmWindow: 1000 });
      let total = 0;
      const m = await measure({ broker, producers: pubs, seconds, warmup });
      for (const p of pubs) total += m.reports[p.name].total.confirmed;
      const nacked = pubs.reduce((a, p) => a + m.reports[p.name].total.nacked, 0);
      if (nacked) throw new Error(`${nacked} publishes nacked`);
      // phase 2: replay everything confirmed from the first offset
      const con = await spawnWorker(
        'consumer',
        { url: broker.url, queue, prefetch: 1000, ackEvery: 100, expect: total, consumeOnStart: true, consumeArgs: { 'x-stream-offset': 'first' } },
        'con',
      );
      try {
        let error = null;
        con.listeners.error.push((e) => (error ??= e));
        const done = con.done();
        const mon = new BrokerMonitor(broker.pid);
        await con.call('start');
        let timer;
        const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`replay of ${total} messages not done in ${REPLAY_TIMEOUT_MS / 1000} s`)), REPLAY_TIMEOUT_MS)));
        const counters = await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
        const replayBroker = mon.end();
        const conReport = await con.call('report');
        if (error) throw new Error(`client error: ${error}`);
        return {
          values: { confirmed: sumRate(m, pubs, 'confirmed'), replayed: (total * 1000) / counters.elapsedMs },
          clientCpu: { ...Object.fromEntries(pubs.map((p) => [p.name, m.reports[p.name].cpu])), con: conReport.cpu },
          broker: { cpu: replayBroker.cpu, maxRss: Math.max(m.broker.maxRss ?? 0, replayBroker.maxRss ?? 0) || undefined },
        };
      } finally {
        await con.stop();
      }
    } finally {
      await cleanup(broker.url, { queues: [queue] });
    }
  },
};
