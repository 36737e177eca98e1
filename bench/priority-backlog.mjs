#!/usr/bin/env node
// A backlog in a priority queue, against each broker: what paging priority queues by level
// (src/server/priority-tails.ts) is for. Each broker, fresh and with its defaults, gets --count
// messages of --body bytes in one queue declared with x-max-priority 9, priorities 0..9 in turn,
// published with confirms (transient, then persistent: delivery_mode 2 to a durable queue), nobody
// consuming. Then one consumer (prefetch 200, acking each) drains it and checks the order: highest priority
// first, arrival order within a priority. The broker's resident memory is sampled every 100 ms.
//
//   node bench/priority-backlog.mjs [--brokers warren,rabbitmq,lavinmq] [--count 100000]
//     [--body 4096] [--modes transient,persistent] [--fifo] [--warren-args "…"]
//     [--before /path/to/an/earlier/dist/cli.js] [--out bench/results/priority-backlog.md]
// --before adds a row for another Warren build (BENCH_WARREN_CLI does the same for every row).
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import amqp from 'amqplib';
import { arg } from './args.mjs';
import { cleanupAll, lavinmqAvailable, lavinmqPath, rabbitAvailable, startBroker } from './brokers.mjs';

const MiB = 1024 * 1024;
const brokers = arg('brokers', 'warren,rabbitmq,lavinmq')
  .split(',')
  .filter((b) => (b === 'rabbitmq' ? rabbitAvailable() : b === 'lavinmq' ? lavinmqAvailable(lavinmqPath()) : true));
const count = Number(arg('count', '100000'));
const size = Number(arg('body', '4096'));
const modes = arg('modes', 'transient,persistent').split(',');
const before = arg('before', '');
const out = arg('out', '');
// --fifo: the same backlog in a queue without x-max-priority (delivered in arrival order), to compare.
const fifo = process.argv.includes('--fifo');
const LEVELS = 10;
/** --warren-args "--page-out-bytes 1073741824": flags for Warren (e.g. to keep the backlog in memory). */
const warrenArgs = arg('warren-args', '').split(' ').filter(Boolean);

function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The broker's CPU time so far (user + system), in seconds. */
function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Body i: its index in the first 4 bytes, so the order can be checked. */
const bodyOf = (i) => {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
};

async function run(kind, persistent, cli) {
  const saved = process.env.BENCH_WARREN_CLI;
  if (cli) process.env.BENCH_WARREN_CLI = cli;
  const b = await startBroker(kind, kind === 'warren' ? { extraArgs: warrenArgs } : undefined).finally(() => {
    if (!cli) return;
    if (saved === undefined) delete process.env.BENCH_WARREN_CLI;
    else process.env.BENCH_WARREN_CLI = saved;
  });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(b.pid))), 100);
  try {
    const startRss = rssOf(b.pid);
    const conn = await amqp.connect(b.url);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('prio', { durable: persistent, arguments: fifo ? {} : { 'x-max-priority': LEVELS - 1 } });
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      if (!ch.sendToQueue('prio', bodyOf(i), { priority: i % LEVELS, persistent })) await new Promise((r) => ch.once('drain', r));
      if (i % 1000 === 999) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    const publishS = (performance.now() - t0) / 1000;
    const afterPublish = peak;
    const sub = await conn.createChannel();
    await sub.prefetch(200);
    // Expected: level 9 first, each level in arrival order.
    const perLevel = Math.ceil(count / LEVELS);
    let got = 0;
    let wrong = 0;
    const cpu0 = cpuOf(b.pid);
    const t1 = performance.now();
    await new Promise((resolve) => {
      sub.consume('prio', (m) => {
        const want = fifo ? got : LEVELS - 1 - Math.floor(got / perLevel) + (got % perLevel) * LEVELS;
        if (m.content.readUInt32BE(0) !== want) wrong++;
        sub.ack(m);
        if (++got === count) resolve();
      });
    });
    const drainS = (performance.now() - t1) / 1000;
    const drainCpu = cpuOf(b.pid) - cpu0;
    await conn.close();
    return { kind, label: cli ? `${b.label} (before)` : b.label, persistent, startRss, afterPublish, peak, publishS, drainS, drainCpu, wrong };
  } finally {
    clearInterval(sampler);
    await b.stop();
  }
}

const rows = [];
try {
  if (count % LEVELS !== 0) throw new Error(`--count must be a multiple of ${LEVELS}`);
  const runs = brokers.map((kind) => [kind, '']);
  if (before) runs.splice(1, 0, ['warren', before]);
  for (const mode of modes) for (const [kind, cli] of runs) {
    const r = await run(kind, mode === 'persistent', cli);
    rows.push(r);
    console.log(
      `${r.label}: published ${(count / r.publishS).toFixed(0)} msgs/s, drained ${(count / r.drainS).toFixed(0)} msgs/s (broker CPU ${((r.drainCpu * 1e6) / count).toFixed(2)} µs a message), RSS ${(r.startRss / MiB).toFixed(0)} → ${(r.afterPublish / MiB).toFixed(0)} after publishing, peak ${(r.peak / MiB).toFixed(0)} MiB, ${r.wrong} out of order`,
    );
  }
} finally {
  await cleanupAll();
}

const lines = [
  `# Priority queue backlog`,
  '',
  `${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model.trim()}, load ${loadavg()[0].toFixed(2)}: ` +
    `${count.toLocaleString('en')} messages to a queue ${fifo ? 'without x-max-priority (arrival order)' : `with x-max-priority ${LEVELS - 1}`} ` +
    `(transient: a non-durable queue; persistent: delivery_mode 2 to a durable one), ${size}-byte bodies (${((count * size) / MiB).toFixed(0)} MiB), priorities 0..${LEVELS - 1} in turn, confirms every 1,000; then drained by one consumer (prefetch 200).`,
  '',
  '| messages | broker | published msgs/s | drained msgs/s | broker CPU draining, µs a message | RSS at start, MiB | RSS after publishing, MiB | peak RSS, MiB | out of order |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.persistent ? 'persistent' : 'transient'} | ${r.label} | ${(count / r.publishS).toFixed(0)} | ${(count / r.drainS).toFixed(0)} | ${((r.drainCpu * 1e6) / count).toFixed(2)} | ${(r.startRss / MiB).toFixed(0)} | ${(r.afterPublish / MiB).toFixed(0)} | ${(r.peak / MiB).toFixed(0)} | ${r.wrong} |`,
  ),
  '',
];
if (out) writeFileSync(out, lines.join('\n'));
console.log(lines.join('\n'));
