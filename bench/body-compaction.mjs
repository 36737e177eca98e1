#!/usr/bin/env node
// Disk held by a slow queue beside a busy one, against each broker: what compaction of body files
// (src/store/body-compaction.ts) is for. Each broker gets --mib MiB of persistent --body-byte
// bodies, one in --every to 'slow' (never consumed) and the rest to 'busy' (a backlog, then drained
// and acked). Then its data directory's size (du, less its size just after start) is sampled every
// second for --wait seconds. Without compaction, each body file of the busy queue's stays as long
// as one slow body is in it. Brokers run one after the other, fresh, with their defaults.
//
//   node bench/body-compaction.mjs [--brokers warren,rabbitmq,lavinmq] [--mib 1024] [--body 1048576]
//     [--every 64] [--wait 40] [--out bench/results/body-compaction.md]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import amqp from 'amqplib';
import { arg } from './args.mjs';
import { cleanupAll, lavinmqAvailable, lavinmqPath, rabbitAvailable, startBroker } from './brokers.mjs';
import { sleep } from './stats.mjs';

const MiB = 1024 * 1024;
const brokers = arg('brokers', 'warren,rabbitmq,lavinmq')
  .split(',')
  .filter((b) => (b === 'rabbitmq' ? rabbitAvailable() : b === 'lavinmq' ? lavinmqAvailable(lavinmqPath()) : true));
const total = Number(arg('mib', '1024')) * MiB;
const size = Number(arg('body', String(MiB)));
const every = Number(arg('every', '64'));
const waitS = Number(arg('wait', '40'));
const out = arg('out', '');

const du = (dir) => Number(execFileSync('du', ['-sb', dir]).toString().split('\t')[0]);
const mib = (n) => (n / MiB).toFixed(1);

async function run(kind) {
  const b = await startBroker(kind);
  try {
    await sleep(1000);
    const base = du(b.dataDir);
    const conn = await amqp.connect(b.url);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('slow', { durable: true });
    await ch.assertQueue('busy', { durable: true });
    const n = Math.floor(total / size);
    let slow = 0;
    for (let i = 0; i < n; i++) {
      const body = Buffer.alloc(size, i & 0xff);
      const q = i % every === 0 ? 'slow' : 'busy';
      if (q === 'slow') slow++;
      ch.sendToQueue(q, body, { persistent: true });
      if (i % 16 === 15) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    const published = du(b.dataDir) - base;
    // Drain the backlog, acking.
    const busy = n - slow;
    const sub = await conn.createChannel();
    await sub.prefetch(64);
    let acked = 0;
    const t0 = performance.now();
    await new Promise((resolve) => {
      sub.consume('busy', (m) => {
        sub.ack(m);
        if (++acked === busy) resolve();
      });
    });
    const drainS = (performance.now() - t0) / 1000;
    const samples = [];
    for (let s = 0; s <= waitS; s++) {
      samples.push(du(b.dataDir) - base);
      if (s < waitS) await sleep(1000);
    }
    const { messageCount } = await ch.checkQueue('slow');
    await conn.close();
    const live = slow * size;
    const bound = 2 * live + 64 * MiB;
    const settled = samples.findIndex((x) => x <= bound);
    return { kind, label: b.label, n, slow, messageCount, live, published, drainS, samples, settled };
  } finally {
    await b.stop();
  }
}

const results = [];
for (const kind of brokers) {
  const r = await run(kind);
  results.push(r);
  console.log(`${r.label}: ${r.n} bodies of ${size} B, ${r.slow} to slow (${mib(r.live)} MiB live, ${r.messageCount} there); data dir +${mib(r.published)} MiB after publishing; after the drain (${r.drainS.toFixed(1)} s): ${r.samples.map(mib).join(' ')} MiB`);
}
await cleanupAll();

const lines = [
  `# Disk held by a slow queue beside a busy one (${new Date().toISOString().slice(0, 10)})`,
  '',
  `\`node bench/body-compaction.mjs --mib ${total / MiB} --body ${size} --every ${every} --wait ${waitS}\`, ${cpus().length} × ${cpus()[0]?.model.trim()}, load ${loadavg()[0].toFixed(2)}.`,
  '',
  '| broker | bodies (slow) | live MiB | data dir after publishing, MiB | right after the drain | 10 s later | 20 s later | at the end | seconds until ≤ 2 × live + 64 MiB |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.label} | ${r.n} (${r.slow}) | ${mib(r.live)} | ${mib(r.published)} | ${mib(r.samples[0])} | ${mib(r.samples[Math.min(10, waitS)])} | ${mib(r.samples[Math.min(20, waitS)])} | ${mib(r.samples[waitS])} | ${r.settled < 0 ? `not in ${waitS}` : r.settled} |`,
  ),
  '',
];
console.log(lines.join('\n'));
if (out) writeFileSync(out, lines.join('\n'));
