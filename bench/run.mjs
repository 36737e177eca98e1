#!/usr/bin/env node
// `npm run bench`: throughput through one queue with amqplib, against Warren started in its own
// process on a free port with a fresh data directory. Prints msgs/s per scenario.
// Usage: node bench/run.mjs [--seconds 5] [--scenario transient|confirms]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const seconds = Number(arg('seconds', '5'));
const only = arg('scenario', '');
const body = Buffer.alloc(16, 'x');

function startWarren(extraArgs = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-bench-'));
  const proc = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(root, 'dist/cli.js'), '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'info', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      const m = /"port":(\d+),.*"msg":"listening"/.exec(buf);
      if (m) {
        proc.stdout.removeAllListeners('data');
        proc.stdout.resume();
        resolve({
          port: Number(m[1]),
          stop: () =>
            new Promise((r) => {
              proc.once('exit', () => {
                rmSync(dataDir, { recursive: true, force: true });
                r();
              });
              proc.kill('SIGTERM');
            }),
        });
      }
    });
    proc.once('exit', (code) => reject(new Error(`broker exited ${code}`)));
  });
}

/** One publisher and one consumer (prefetch 1000, manual ack); the publisher respects backpressure. */
async function throughput(url, { persistent, confirms }) {
  const pubConn = await amqp.connect(url);
  const subConn = await amqp.connect(url);
  const q = `bench-${persistent ? 'p' : 't'}-${Date.now()}`;
  const pub = confirms ? await pubConn.createConfirmChannel() : await pubConn.createChannel();
  await pub.assertQueue(q, { durable: persistent });
  const sub = await subConn.createChannel();
  await sub.prefetch(1000);
  let consumed = 0;
  let acked = 0;
  await sub.consume(q, (m) => {
    consumed++;
    if (++acked === 100) {
      sub.ack(m, true);
      acked = 0;
    }
  });
  let published = 0;
  let confirmed = 0;
  let running = true;
  const window = 1000;
  let inflight = 0;
  let wake = null;
  const publisher = (async () => {
    while (running) {
      if (confirms) {
        if (inflight >= window) {
          await new Promise((r) => (wake = r));
          continue;
        }
        inflight++;
        published++;
        pub.sendToQueue(q, body, { persistent }, (err) => {
          inflight--;
          if (!err) confirmed++;
          if (wake && inflight < window / 2) {
            const w = wake;
            wake = null;
            w();
          }
        });
      } else {
        published++;
        if (!pub.sendToQueue(q, body, { persistent })) await new Promise((r) => pub.once('drain', r));
        else if (published % 500 === 0) await new Promise((r) => setImmediate(r));
      }
    }
  })();
  const start = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const c = consumed;
  const cf = confirmed;
  const elapsed = (Date.now() - start) / 1000;
  running = false;
  if (wake) wake();
  await publisher;
  await pubConn.close().catch(() => {});
  await subConn.close().catch(() => {});
  return { consumed: Math.round(c / elapsed), confirmed: Math.round(cf / elapsed), published: Math.round(published / elapsed) };
}

const scenarios = {
  transient: (url) => throughput(url, { persistent: false, confirms: false }),
  confirms: (url) => throughput(url, { persistent: true, confirms: true }),
};

const broker = await startWarren();
const url = `amqp://guest:guest@127.0.0.1:${broker.port}`;
const results = [];
for (const [name, run] of Object.entries(scenarios)) {
  if (only && only !== name) continue;
  const r = await run(url);
  results.push({ scenario: name, ...r });
  console.error(name, r);
}
await broker.stop();
console.table(results);
