#!/usr/bin/env node
// What makes Warren's latency tail (issue 14, goal 4): publishes at a steady rate (a publisher in
// a worker thread, amqplib, 16-byte bodies stamped with the wall clock), consumes (prefetch 1000,
// acks every 100, as goperf does) and records every message's end-to-end latency, while the broker
// (started with bench/tail/probe.mjs preloaded) records every garbage-collection pause. Then it
// asks, for the slowest 1% of messages, whether a GC pause of the broker fell inside their flight,
// and draws the window around the slowest message: each message a dot, each GC pause a band.
// Writes bench/results/latency-tail.md and latency-tail.svg. Never part of npm test.
//
//   node bench/latency-tail.mjs [--rates 5000,50000] [--seconds 10] [--warmup 1]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { connect as tcpConnect } from 'node:net';
import amqp from 'amqplib';
import { freePort, makeTempDir, removeTempDir } from './brokers.mjs';
import { arg } from './args.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const rates = arg('rates', '5000,50000').split(',').map(Number);
const seconds = Number(arg('seconds', '10'));
const warmup = Number(arg('warmup', '1'));
const cli = join(root, 'dist', 'cli.js');
if (!existsSync(cli)) throw new Error('dist/cli.js is missing: npm run build first');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ready = (port) =>
  new Promise((resolve) => {
    const s = tcpConnect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

async function runOne(rate) {
  const dataDir = makeTempDir('warren-tail-');
  const probeOut = join(dataDir, 'gc.json');
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', join(here, 'tail', 'probe.mjs'), cli, '--port', String(port), '--data-dir', join(dataDir, 'data'), '--management-port', '0', '--prometheus-port', '-1'], {
    env: { ...process.env, TAIL_PROBE_OUT: probeOut, WARREN_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  while (!(await ready(port))) await sleep(50);
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const conn = await amqp.connect(url, { noDelay: true });
  const ch = await conn.createChannel();
  const queue = `tail.${rate}`;
  await ch.assertQueue(queue, { durable: false });
  await ch.prefetch(1000);
  const total = Math.ceil(rate * (seconds + warmup)) + 1000;
  const sentAt = new Float64Array(total);
  const latency = new Float64Array(total);
  let n = 0;
  let unacked = 0;
  const clientGcs = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) clientGcs.push([performance.timeOrigin + e.startTime, e.duration]);
  });
  obs.observe({ entryTypes: ['gc'] });
  // The consumer's own stalls (its loop late by more than 2 ms) count as the client's too.
  let lastTick = performance.now();
  const stallTimer = setInterval(() => {
    const now = performance.now();
    if (now - lastTick > 3) clientGcs.push([performance.timeOrigin + lastTick + 1, now - lastTick - 1]);
    lastTick = now;
  }, 1);
  await ch.consume(queue, (m) => {
    const now = performance.timeOrigin + performance.now();
    const t = m.content.readDoubleBE(0);
    if (n < total) {
      sentAt[n] = t;
      latency[n] = now - t;
      n++;
    }
    if (++unacked === 100) {
      ch.ack(m, true);
      unacked = 0;
    }
  });
  const pub = new Worker(join(here, 'tail', 'client.mjs'), { workerData: { url, queue, rate, seconds: seconds + warmup } });
  const done = await new Promise((resolve, reject) => (pub.once('message', resolve), pub.once('error', reject)));
  await sleep(300);
  obs.disconnect();
  clearInterval(stallTimer);
  await conn.close();
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  const { gcs, stalls } = JSON.parse(readFileSync(probeOut, 'utf8'));
  removeTempDir(dataDir);
  // The warm-up's messages are left out.
  const start = sentAt[0] + warmup * 1000;
  const msgs = [];
  for (let i = 0; i < n; i++) if (sentAt[i] >= start) msgs.push([sentAt[i], latency[i]]);
  const after = (list) => list.filter(([s]) => s >= start - 100).sort((a, b) => a[0] - b[0]);
  return { rate, msgs, gcs: after(gcs), stalls: after(stalls), clientGcs: after([...clientGcs, ...done.gcs]) };
}

/** Whether any interval [start, start + length] of the list (sorted by start) overlaps [t, t + l]. */
function overlapper(list) {
  return ([t, l]) => {
    let lo = 0;
    let hi = list.length;
    // Intervals end in start order closely enough for pauses of a few ms: search on start - 1 s.
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid][0] < t - 1000) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < list.length && list[i][0] <= t + l; i++) if (list[i][0] + list[i][1] >= t) return true;
    return false;
  };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

/**
 * What held a message up, first match: a GC pause of the broker during its flight, else a stall of
 * the broker's event loop (late: busy with work, or the process not scheduled on a busy machine), else a pause of the client (a GC of the
 * consumer or publisher thread, or the consumer's loop late), else nothing either side saw (the kernel's scheduling on a busy machine,
 * batching, the network stack).
 */
const CAUSES = ['broker GC', 'broker late', 'client paused', 'none seen'];
function classify(r) {
  const brokerGc = overlapper(r.gcs);
  const stall = overlapper(r.stalls);
  const clientGc = overlapper(r.clientGcs);
  return (m) => (brokerGc(m) ? 0 : stall(m) ? 1 : clientGc(m) ? 2 : 3);
}

function analyse(r) {
  const { rate, msgs, gcs } = r;
  const lat = msgs.map((m) => m[1]).sort((a, b) => a - b);
  const p99 = pct(lat, 99);
  const cause = classify(r);
  const tail = msgs.filter((m) => m[1] >= p99);
  const tailCauses = [0, 0, 0, 0];
  for (const m of tail) tailCauses[cause(m)]++;
  const allCauses = [0, 0, 0, 0];
  for (const m of msgs) allCauses[cause(m)]++;
  const pauses = gcs.map((g) => g[1]).sort((a, b) => a - b);
  const span = (msgs[msgs.length - 1][0] - msgs[0][0]) / 1000;
  const byKind = {};
  for (const g of gcs) byKind[g[2]] = (byKind[g[2]] ?? 0) + 1;
  return {
    rate,
    count: msgs.length,
    p50: pct(lat, 50),
    p99,
    p999: pct(lat, 99.9),
    max: lat[lat.length - 1],
    tailShares: tailCauses.map((c) => c / Math.max(1, tail.length)),
    allShares: allCauses.map((c) => c / Math.max(1, msgs.length)),
    tailShareGc: tailCauses[0] / Math.max(1, tail.length),
    allShareGc: allCauses[0] / Math.max(1, msgs.length),
    stallsPerSecond: r.stalls.length / ((msgs[msgs.length - 1][0] - msgs[0][0]) / 1000),
    gcPerSecond: gcs.length / span,
    pauseP50: pauses.length ? pct(pauses, 50) : 0,
    pauseMax: pauses.length ? pauses[pauses.length - 1] : 0,
    pausedMsPerSecond: pauses.reduce((a, b) => a + b, 0) / span,
    byKind,
  };
}

/** One panel: the 400 ms around the slowest message, latency on a log scale, GC pauses as bands. */
function panel({ rate, msgs, gcs, stalls, clientGcs }, a, x0, y0, w, h) {
  let slow = msgs[0];
  for (const m of msgs) if (m[1] > slow[1]) slow = m;
  const from = slow[0] - 200;
  const to = slow[0] + 200;
  const lo = Math.log10(0.05);
  const hi = Math.log10(Math.max(2, slow[1] * 1.5));
  const X = (t) => x0 + ((t - from) / (to - from)) * w;
  const Y = (ms) => y0 + h - ((Math.log10(Math.max(ms, 0.05)) - lo) / (hi - lo)) * h;
  const parts = [];
  parts.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="#fff" stroke="#999"/>`);
  const band = (list, fill, yy, hh) => {
    for (const [s, d] of list) {
      if (s + d < from || s > to) continue;
      parts.push(`<rect x="${X(s).toFixed(1)}" y="${yy}" width="${Math.max(1, X(s + d) - X(s)).toFixed(1)}" height="${hh}" fill="${fill}" opacity="0.7"/>`);
    }
  };
  // Broker stalls (orange) under its GC pauses (red), client pauses (grey) along the bottom.
  band(stalls, '#f7c98b', y0, h);
  band(gcs, '#f08080', y0, h);
  band(clientGcs, '#999', y0 + h - 12, 12);
  for (const v of [0.1, 1, 10, 100]) {
    if (Math.log10(v) > hi) break;
    parts.push(`<line x1="${x0}" x2="${x0 + w}" y1="${Y(v).toFixed(1)}" y2="${Y(v).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${x0 - 6}" y="${(Y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${v >= 1 ? v + ' ms' : v * 1000 + ' µs'}</text>`);
  }
  parts.push(`<line x1="${x0}" x2="${x0 + w}" y1="${Y(a.p99).toFixed(1)}" y2="${Y(a.p99).toFixed(1)}" stroke="#c60" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${x0 + w - 4}" y="${(Y(a.p99) - 4).toFixed(1)}" font-size="11" text-anchor="end" fill="#c60">p99 of the run</text>`);
  const dots = [];
  for (const [t, l] of msgs) if (t >= from && t <= to) dots.push(`M${X(t).toFixed(1)} ${Y(l).toFixed(1)}h0.01`);
  parts.push(`<path d="${dots.join('')}" stroke="#1f5fa8" stroke-width="2" stroke-linecap="round" opacity="0.5"/>`);
  parts.push(`<text x="${x0}" y="${y0 - 8}" font-size="13" font-weight="bold">${rate.toLocaleString('en')} msgs/s: 400 ms around the slowest message (dots: messages by send time; red: broker GC; orange: broker loop late; grey: client paused)</text>`);
  parts.push(`<text x="${x0}" y="${y0 + h + 16}" font-size="11">slowest 1% (≥ p99): ${CAUSES.map((c, i) => `${c} ${(a.tailShares[i] * 100).toFixed(0)}%`).join(', ')}; all messages: ${CAUSES.map((c, i) => `${c} ${(a.allShares[i] * 100).toFixed(1)}%`).join(', ')}</text>`);
  return parts.join('\n');
}

const results = [];
for (const rate of rates) {
  console.log(`latency tail at ${rate} msgs/s for ${seconds} s (+${warmup} s warm-up)…`);
  results.push(await runOne(rate));
}
const analyses = results.map(analyse);
const W = 900;
const H = 220;
const svg = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W + 100}" height="${results.length * (H + 70) + 20}" font-family="sans-serif">`, '<rect width="100%" height="100%" fill="#fafafa"/>'];
results.forEach((r, i) => svg.push(panel(r, analyses[i], 70, 30 + i * (H + 70), W, H)));
svg.push('</svg>');
const outDir = join(root, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'latency-tail.svg'), svg.join('\n'));
const f = (v) => (v >= 10 ? v.toFixed(1) : v.toFixed(2));
const lines = [
  '# What makes Warren\'s latency tail',
  '',
  `- **date**: ${new Date().toISOString()}; load average at the end ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ')}`,
  `- **command**: \`node bench/latency-tail.mjs --rates ${rates.join(',')} --seconds ${seconds} --warmup ${warmup}\` (amqplib publisher in a worker thread, consumer prefetch 1000 acking every 100; broker with bench/tail/probe.mjs recording GC pauses)`,
  '',
  '| rate msgs/s | messages | p50 ms | p99 ms | p99.9 ms | max ms | slowest 1%: ' + CAUSES.join(' · ') + ' | all messages: ' + CAUSES.join(' · ') + ' | broker GC pauses/s (kinds) | pause median / max ms | broker loop stalls > 2 ms per s |',
  '|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|',
  ...analyses.map((a) => `| ${a.rate.toLocaleString('en')} | ${a.count.toLocaleString('en')} | ${f(a.p50)} | ${f(a.p99)} | ${f(a.p999)} | ${f(a.max)} | ${a.tailShares.map((x) => (x * 100).toFixed(0) + '%').join(' · ')} | ${a.allShares.map((x) => (x * 100).toFixed(1) + '%').join(' · ')} | ${a.gcPerSecond.toFixed(1)} (${Object.entries(a.byKind).map(([k, v]) => `${k} ${v}`).join(', ')}) | ${f(a.pauseP50)} / ${f(a.pauseMax)} | ${a.stallsPerSecond.toFixed(1)} |`),
  '',
  '![latency tail](latency-tail.svg)',
  '',
];
writeFileSync(join(outDir, 'latency-tail.md'), lines.join('\n'));
console.log(lines.join('\n'));
