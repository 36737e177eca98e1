#!/usr/bin/env node
// How long a long queue's drain holds the broker's event loop (every other connection waits that
// long): fills a durable queue with N persistent 16-byte messages (amqplib, confirms), stops the
// broker cleanly, then for each round starts it again on a copy of that data with
// bench/tail/probe.mjs preloaded and drains the queue (prefetch 1000, an ack with multiple every
// 100, as the backlog scenario does). Prints, per build and round, the drain time, the longest
// event-loop gap while draining, the gaps of 20 ms or more, the sum of gaps over 8 ms, and how
// many of those a GC pause overlapped. Interleaves builds (--dist A,B) for an A/B. Never part of
// npm test.
//
//   node bench/drain-gaps.mjs [--n 500000] [--rounds 3] [--dist DIR[,DIR…]]
import { spawn } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { freePort, makeTempDir, removeTempDir } from './brokers.mjs';
import { arg } from './args.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const n = Number(arg('n', '500000'));
const rounds = Number(arg('rounds', '3'));
const dists = arg('dist', root).split(',').map((d) => resolve(d));
const QUEUE = 'backlog';

/** Starts `node DIST/dist/cli.js` on dataDir; resolves once it listens. */
async function startWarren(dist, dataDir, env = {}) {
  const port = await freePort();
  const args = ['--max-semi-space-size=64', '--v8-pool-size=1', '--import', join(here, 'tail', 'probe.mjs'), join(dist, 'dist', 'cli.js')];
  args.push('--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--management-port', '0', '--prometheus-port', '-1', '--log-level', 'info');
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  await new Promise((ok, fail) => {
    let seen = '';
    proc.stdout.on('data', (d) => {
      seen += d;
      if (seen.includes('"listening"')) ok();
    });
    proc.once('exit', (code) => fail(new Error(`broker exited with ${code}`)));
  });
  proc.stdout.resume();
  const stop = () => new Promise((ok) => (proc.exitCode !== null ? ok() : (proc.once('exit', ok), proc.kill('SIGTERM'))));
  return { url: `amqp://guest:guest@127.0.0.1:${port}`, stop };
}

async function fill(dataDir) {
  const b = await startWarren(dists[0], dataDir);
  const conn = await amqp.connect(b.url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue(QUEUE, { durable: true });
  const body = Buffer.alloc(16, 'x');
  for (let sent = 0; sent < n; ) {
    const k = Math.min(1000, n - sent);
    for (let i = 0; i < k; i++) ch.sendToQueue(QUEUE, body, { persistent: true });
    await ch.waitForConfirms();
    sent += k;
  }
  await conn.close();
  await b.stop();
}

async function drain(url) {
  const conn = await amqp.connect(url);
  const ch = await conn.createChannel();
  const { messageCount } = await ch.checkQueue(QUEUE);
  if (messageCount !== n) throw new Error(`${messageCount} messages after the restart, not ${n}`);
  await ch.prefetch(1000);
  const t0 = performance.now();
  const from = Date.now();
  let got = 0;
  await new Promise((done) =>
    ch.consume(QUEUE, (m) => {
      got++;
      if (got % 100 === 0 || got === n) ch.ack(m, true);
      if (got === n) done();
    }),
  );
  const ms = performance.now() - t0;
  await conn.close();
  return { ms, from, to: Date.now() };
}

const base = makeTempDir('warren-drain-gaps-');
try {
  await fill(join(base, 'filled'));
  console.log(`${n} persistent messages in queue '${QUEUE}'; ${rounds} round(s) of ${dists.join(' / ')}`);
  for (let r = 0; r < rounds; r++) {
    for (const dist of dists) {
      const dataDir = join(base, `r${r}-${dists.indexOf(dist)}`);
      cpSync(join(base, 'filled'), dataDir, { recursive: true });
      const out = join(base, `probe-${r}-${dists.indexOf(dist)}.json`);
      const b = await startWarren(dist, dataDir, { TAIL_PROBE_OUT: out });
      const d = await drain(b.url);
      await b.stop();
      const { gcs, stalls } = JSON.parse(readFileSync(out, 'utf8'));
      const during = stalls.filter(([at]) => at >= d.from && at <= d.to).map(([at, len]) => [at, len + 1]);
      const over8 = during.filter(([, len]) => len > 8);
      const gcIn = (at, len) => gcs.some(([g, gl]) => g < at + len && g + gl > at);
      console.log(
        [
          `${dist}:`,
          `drain ${(d.ms / 1000).toFixed(2)} s,`,
          `longest gap ${Math.max(0, ...during.map(([, len]) => len)).toFixed(1)} ms,`,
          `gaps >= 20 ms: ${during.filter(([, len]) => len >= 20).length},`,
          `sum of gaps > 8 ms: ${over8.reduce((a, [, len]) => a + len, 0).toFixed(0)} ms`,
          `(${over8.filter(([at, len]) => gcIn(at, len)).length} of ${over8.length} with a GC pause in them)`,
        ].join(' '),
      );
      removeTempDir(dataDir);
    }
  }
} finally {
  removeTempDir(base);
}
