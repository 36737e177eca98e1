#!/usr/bin/env node
// How much of a steady-rate latency tail is the broker's: goperf's latency scenario (one publisher at
// a fixed rate, one consumer, end-to-end latency of every message) against the Node relay
// (bench/tail/relay-broker.mjs: publishes relayed to the consumer, nothing else, in one Node thread),
// Warren and LavinMQ (when built), interleaved, a fresh process each run. The relay is the floor
// of any broker in one Node thread on this machine; single runs vary a lot, so every run is shown
// with the medians. Writes bench/results/latency-floor.md. Needs goperf (../shared/goperf/build.sh).
//
//   node bench/latency-floor.mjs [--runs 5] [--rate 5000] [--seconds 8] [--goperf PATH] [--lavinmq PATH]
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cleanupAll, lavinmqAvailable, lavinmqPath, startLavinMQ, startRelay, startWarren } from './brokers.mjs';
import { goperfAvailable, goperfPath, runGoperf } from './goperf.mjs';
import { median } from './stats.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '8' },
    goperf: { type: 'string' },
    lavinmq: { type: 'string' },
    out: { type: 'string', default: join(here, 'results', 'latency-floor.md') },
  },
});
const goperf = goperfPath(o.goperf);
if (!goperfAvailable(goperf)) {
  console.error(`goperf not found at ${goperf}: build it with ../shared/goperf/build.sh (or --goperf PATH)`);
  process.exit(2);
}
const lavinmq = lavinmqPath(o.lavinmq);
const brokers = [
  { label: 'Node relay', start: startRelay },
  { label: 'Warren', start: () => startWarren() },
  ...(lavinmqAvailable(lavinmq) ? [{ label: 'LavinMQ', start: () => startLavinMQ({ binary: lavinmq }) }] : []),
];
const KEYS = [
  ['p50', 'e2e latency p50 µs'],
  ['p99', 'e2e latency p99 µs'],
  ['p99.9', 'e2e latency p99.9 µs'],
];
const runs = Number(o.runs);
const startLoad = loadavg().map((x) => x.toFixed(2)).join(', ');
const results = new Map(brokers.map((b) => [b.label, []]));

process.on('SIGINT', () => void cleanupAll().then(() => process.exit(130)));
try {
  for (let i = 1; i <= runs; i++) {
    for (const b of brokers) {
      const broker = await b.start();
      try {
        const r = await runGoperf(goperf, { url: broker.url, pid: broker.pid, scenario: 'latency', seconds: Number(o.seconds), warmup: 1, flags: ['-rate', o.rate] });
        const row = Object.fromEntries(KEYS.map(([k, metric]) => [k, r.metrics[metric]]));
        results.get(b.label).push(row);
        console.log(`[latency-floor] ${b.label} run ${i}/${runs}: ${KEYS.map(([k]) => `${k} ${row[k]}`).join(', ')} µs`);
      } finally {
        await broker.stop();
      }
    }
  }
} finally {
  await cleanupAll();
}

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));
const lines = [
  '# Latency floor: a Node relay beside the brokers',
  '',
  `- **date**: ${new Date().toISOString()}, load average ${startLoad} at the start`,
  `- goperf \`-scenario latency -rate ${o.rate} -seconds ${o.seconds} -warmup 1\`, ${runs} runs interleaved, a fresh broker process each`,
  '',
  '| broker | p50 µs (median; runs) | p99 µs (median; runs) | p99.9 µs (median; runs) |',
  '|---|---|---|---|',
  ...brokers.map((b) => {
    const rows = results.get(b.label);
    const cell = (k) => `${fmt(median(rows.map((r) => r[k])))}; ${rows.map((r) => fmt(r[k])).join(' · ')}`;
    return `| ${b.label} | ${cell('p50')} | ${cell('p99')} | ${cell('p99.9')} |`;
  }),
  '',
  'The Node relay (bench/tail/relay-broker.mjs) relays each publish to the consumer and does nothing else: its tail is what a broker in one Node thread starts from on this machine.',
  '',
];
writeFileSync(o.out, lines.join('\n'));
console.log(lines.join('\n'));
console.log(`written to ${o.out}`);
