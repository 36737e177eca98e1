#!/usr/bin/env node
// Store micro-benchmark: how long reading a long queue's messages back takes (what a page-in, a
// backlog drain and a restart's head read cost the broker), in process, without a client or a
// socket, so that one build's figure drifts far less between runs than a drain through amqplib.
// Fills a LevelStore in a temporary directory with --messages persistent messages (16-byte
// bodies), closes it cleanly, then --rounds times: opens it and reads everything back in pages of
// --page messages, as Queue.pageIn does. Prints each round's time and GC time, then medians.
// Needs `npm run build` (imports from dist/, or from --dist: another build's, for an A/B).
// Usage: node --max-semi-space-size=64 bench/read-back.mjs [--messages 500000] [--page 32768]
//        [--rounds 5] [--props same|unique] [--dist DIR]
// --props unique gives every message its own properties (a message-id), so that none are shared
// between consecutive messages read back (codec.ts sharedProperties).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { arg } from './args.mjs';

const N = Number(arg('messages', 500_000));
const PAGE = Number(arg('page', 32_768));
const ROUNDS = Number(arg('rounds', 5));
const UNIQUE = arg('props', 'same') === 'unique';
const DIST = arg('dist', null);
const { LevelStore } = await import(DIST ? pathToFileURL(join(DIST, 'store/level-store.js')).href : '../dist/store/level-store.js');
const VHOST = '/';
const QUEUE = 'read-back';

/** basic properties: delivery-mode 2, and with --props unique a message-id of 12 digits. */
function properties(i) {
  if (!UNIQUE) return Buffer.from([0x10, 0x00, 2]);
  const id = Buffer.from(String(i).padStart(12, '0'));
  return Buffer.concat([Buffer.from([0x10, 0x80, 2, id.length]), id]);
}

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

const dir = mkdtempSync(join(tmpdir(), 'warren-read-back-'));
try {
  const fill = new LevelStore(dir);
  await fill.open();
  fill.putQueue({ vhost: VHOST, name: QUEUE, autoDelete: false, arguments: Buffer.alloc(0) });
  const body = Buffer.alloc(16, 0x61);
  const t0 = performance.now();
  for (let seq = 1; seq <= N; seq++) {
    fill.putMessage(VHOST, QUEUE, { seq, redelivered: false, exchange: '', routingKey: QUEUE, properties: properties(seq), body, expiresAt: 0 });
    // A batch at a time, as a publisher's ticks hand them over.
    if (seq % 1000 === 0) await fill.flush();
  }
  await fill.close();
  console.log(`filled ${N.toLocaleString('en-US')} messages in ${(performance.now() - t0).toFixed(0)} ms (${UNIQUE ? 'unique' : 'the same'} properties)`);

  const times = [];
  const gcs = [];
  for (let r = 0; r < ROUNDS; r++) {
    const store = new LevelStore(dir);
    await store.open();
    gcMs = 0;
    const start = performance.now();
    let from = 0;
    let n = 0;
    // The pages before the last stay referenced, as a queue's in-memory head keeps them.
    const held = [];
    for (;;) {
      const page = await store.readMessages(VHOST, QUEUE, from, PAGE, 64 * 1024 * 1024);
      if (page.length === 0) break;
      n += page.length;
      from = page[page.length - 1].seq + 1;
      held.push(page);
      if (held.length > 2) held.shift();
    }
    const ms = performance.now() - start;
    if (n !== N) throw new Error(`read ${n} messages back, expected ${N}`);
    times.push(ms);
    gcs.push(gcMs);
    console.log(`round ${r + 1}: ${n.toLocaleString('en-US')} messages in ${ms.toFixed(0)} ms, GC ${gcMs.toFixed(0)} ms`);
    await store.close();
  }
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  console.log(`median: ${median(times).toFixed(0)} ms (${((median(times) * 1000) / N).toFixed(2)} µs a message), GC ${median(gcs).toFixed(0)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
